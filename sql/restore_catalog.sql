-- restore_catalog: catalog rows restored from a dump (docs/operations.md "Backup and restore").
-- A restore writes the dumped rows of pgt_stream_tables and pgt_dependencies with the OIDs of
-- the dumped database; the restore trigger resolves the storage table again by name and marks the
-- row needs_rebind, and the first refresh rebinds it (fresh capture, dependencies) and rebuilds
-- it FULL. Here the dump is simulated in one database: the scheduler is off (tests/regress.conf).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE rc_src (id int PRIMARY KEY, v int);
INSERT INTO rc_src SELECT g, g FROM generate_series(1, 40) g;
SELECT pgtrickle.create_stream_table('rc_st', 'SELECT id, v * 2 AS w FROM rc_src', '1m',
                                     'DIFFERENTIAL');
CREATE TEMP TABLE rc_dumped AS SELECT * FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'rc_st';
CREATE TEMP TABLE rc_dumped_rows AS SELECT * FROM rc_st;

-- What the restored database holds before the catalog rows: the storage table with its rows and
-- its DML guard, and capture objects named after another database's OIDs.
SELECT pgtrickle.drop_stream_table('rc_st');
CREATE TABLE rc_st (id int, w int);
INSERT INTO rc_st SELECT * FROM rc_dumped_rows;
CREATE TRIGGER __pgt_block_dml BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rc_st
    FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._block_dml();
CREATE TABLE pgtrickle_changes.changes_4000000000 (__pgt_xid xid8 NOT NULL,
    __pgt_action "char" NOT NULL, id int, v int);
INSERT INTO pgtrickle_changes.changes_4000000000 VALUES ('12345', 'I', 99, 99);
CREATE TRIGGER __pgt_capture_ins AFTER INSERT ON rc_src REFERENCING NEW TABLE AS __pgt_new
    FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture('pgtrickle_changes.changes_4000000000');
-- A dump of an earlier version: a PL/pgSQL capture function per table.
CREATE FUNCTION pgtrickle_changes.capture_4000000000() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO pgtrickle_changes.changes_4000000000 (__pgt_xid, __pgt_action)
VALUES (pg_current_xact_id(), 'T'); RETURN NULL; END$$;
CREATE TRIGGER __pgt_capture_upd AFTER UPDATE ON rc_src REFERENCING OLD TABLE AS __pgt_old
    NEW TABLE AS __pgt_new FOR EACH STATEMENT
    EXECUTE FUNCTION pgtrickle_changes.capture_4000000000();

-- The restore: dumped rows, with stale OIDs and another database's frontier.
INSERT INTO pgtrickle.pgt_stream_tables SELECT * FROM rc_dumped;
INSERT INTO pgtrickle.pgt_dependencies VALUES ((SELECT pgt_id FROM rc_dumped), 4000000000,
                                               'TABLE', '{id,v}');
SELECT pgt_relid = 'rc_st'::regclass AS relid_resolved, needs_rebind, needs_reinit,
       reinit_reason, frontier, status, is_populated
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'rc_st';
SELECT count(*) AS dumped_dependencies FROM pgtrickle.pgt_dependencies;
-- The pgt_id sequence is not dumped: it moves past the restored ids.
SELECT last_value >= (SELECT pgt_id FROM rc_dumped) AS sequence_past_restored
FROM pgtrickle.pgt_stream_tables_pgt_id_seq;
-- Until it is rebound, the DML guard lets the dump's rows in (a data-only restore).
INSERT INTO rc_st VALUES (100, 100);
DELETE FROM rc_st WHERE id = 100;

-- A row whose table was not restored, and one naming a stream table already: skipped.
INSERT INTO pgtrickle.pgt_stream_tables (pgt_id, pgt_relid, pgt_schema, pgt_name,
    defining_query, original_query, defining_tree, output_columns, schedule, refresh_mode,
    diamond_consistency, diamond_schedule_policy, created_at)
SELECT pgt_id + 1, 1, 'public', 'rc_missing', defining_query, original_query, defining_tree,
       output_columns, schedule, refresh_mode, diamond_consistency, diamond_schedule_policy,
       created_at
FROM rc_dumped
UNION ALL
SELECT pgt_id + 2, 2, 'public', 'rc_st', defining_query, original_query, defining_tree,
       output_columns, schedule, refresh_mode, diamond_consistency, diamond_schedule_policy,
       created_at
FROM rc_dumped;
SELECT count(*) AS catalog_rows FROM pgtrickle.pgt_stream_tables;

-- Changes made after the dump, before the first refresh: not in the buffer, and the dumped
-- capture triggers write into their own (orphan) buffer.
INSERT INTO rc_src VALUES (41, 41);
UPDATE rc_src SET v = v WHERE id = 41;
SELECT __pgt_action, id, v FROM pgtrickle_changes.changes_4000000000 ORDER BY id NULLS LAST;

-- The first refresh rebinds: the dumped capture objects are gone, fresh capture and the
-- dependencies are recorded, and it rebuilds (REINITIALIZE), including the change above.
SELECT pgtrickle.refresh_stream_table('rc_st');
SELECT needs_rebind, needs_reinit, frontier IS NOT NULL AS has_frontier
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'rc_st';
SELECT action, status FROM pgtrickle.get_refresh_history('rc_st');
SELECT source_relid::regclass, source_type, columns_used FROM pgtrickle.pgt_dependencies;
SELECT source_relid::regclass, buffer_name = 'changes_' || 'rc_src'::regclass::oid AS fresh_buffer
FROM pgtrickle.pgt_change_tracking;
SELECT count(*) AS orphan_capture_objects FROM pg_class
WHERE relname = 'changes_4000000000'
UNION ALL SELECT count(*) FROM pg_proc WHERE proname = 'capture_4000000000';
SELECT regexp_replace(tgname, '[0-9]+$', 'N') AS tgname,
       tgfoid = 'pgtrickle._capture'::regproc
       AND encode(tgargs, 'escape') = 'pgtrickle_changes.changes_' || 'rc_src'::regclass::oid || '\000'
       AS fresh_trigger
FROM pg_trigger WHERE tgrelid = 'rc_src'::regclass AND tgname LIKE '\_\_pgt\_capture%'
ORDER BY 1;
SELECT count(*), sum(w) FROM rc_st;
-- The guard is back.
INSERT INTO rc_st VALUES (100, 100);
-- Capture works: the next refresh is DIFFERENTIAL.
UPDATE rc_src SET v = 10 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('rc_st');
SELECT action FROM pgtrickle.get_refresh_history('rc_st', 1);
SELECT count(*), sum(w) FROM rc_st;
-- Sources are protected again.
DROP TABLE rc_src;
-- New stream tables get new ids.
SELECT pgtrickle.create_stream_table('rc_st2', 'SELECT id FROM rc_src');
SELECT count(DISTINCT pgt_id) AS distinct_ids FROM pgtrickle.pgt_stream_tables;

SELECT pgtrickle.drop_stream_table('rc_st2');
SELECT pgtrickle.drop_stream_table('rc_st');
DROP TABLE rc_src;
SELECT count(*) AS stream_tables FROM pgtrickle.pgt_stream_tables;

-- Only the restore trigger (as the catalog's owner) asks the launcher for a scheduler: a role
-- without privileges cannot make it start schedulers.
CREATE ROLE rc_nobody;
SET ROLE rc_nobody;
SELECT pgtrickle._request_scheduler();
RESET ROLE;
DROP ROLE rc_nobody;
