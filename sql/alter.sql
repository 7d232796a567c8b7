-- alter: alter_stream_table and resume_stream_table (SPEC §4, §5). NULL arguments leave a
-- property unchanged.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE alt_src (id int PRIMARY KEY, v text, w int);
INSERT INTO alt_src VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30);
SELECT pgtrickle.create_stream_table('alt_st', 'SELECT id, v FROM alt_src', schedule => '5m',
                                     refresh_mode => 'FULL');

CREATE TEMP VIEW alt_props AS
SELECT pgt_name, schedule, refresh_mode, status, is_populated, consecutive_errors, needs_reinit,
       diamond_consistency, diamond_schedule_policy, original_query
FROM pgtrickle.pgt_stream_tables ORDER BY pgt_name;
SELECT * FROM alt_props;

-- Nothing given: nothing changes.
SELECT pgtrickle.alter_stream_table('alt_st');
SELECT * FROM alt_props;

-------------------------------------------------------------------------------
-- schedule and refresh_mode
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('alt_st', schedule => ' 1H30M ');
SELECT * FROM alt_props;
SELECT pgtrickle.alter_stream_table('alt_st', schedule => '0 3 * * 1-5');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';
SELECT pgtrickle.alter_stream_table('alt_st', schedule => '@hourly');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';
SELECT pgtrickle.alter_stream_table('alt_st', schedule => 'calculated');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';
SELECT pgtrickle.alter_stream_table('alt_st', refresh_mode => 'auto');
SELECT * FROM alt_props;
SELECT pgtrickle.alter_stream_table('alt_st', refresh_mode => 'FULL', schedule => '10m');
SELECT * FROM alt_props;
-- Changing properties does not touch the rows.
SELECT * FROM alt_st ORDER BY id;

-------------------------------------------------------------------------------
-- status: SUSPENDED / ACTIVE round trip, resume_stream_table
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('alt_st', status => 'suspended');
SELECT * FROM alt_props;
SELECT name, status FROM pgtrickle.pgt_status();
-- A suspended stream table keeps its rows and cannot be refreshed.
UPDATE alt_src SET v = 'A' WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('alt_st');
\echo :SQLSTATE
SELECT * FROM alt_st ORDER BY id;
-- Suspending again is harmless.
SELECT pgtrickle.alter_stream_table('alt_st', status => 'SUSPENDED');
SELECT pgtrickle.alter_stream_table('alt_st', status => ' Active ');
SELECT * FROM alt_props;
SELECT pgtrickle.refresh_stream_table('alt_st');
SELECT * FROM alt_st ORDER BY id;

SELECT pgtrickle.resume_stream_table('alt_st');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('alt_st', status => 'SUSPENDED');
SELECT pgtrickle.resume_stream_table('alt_st');
SELECT * FROM alt_props;
SELECT pgtrickle.resume_stream_table('alt_st');
\echo :SQLSTATE

-- Resuming a stream table that was never populated puts it back to INITIALIZING.
SELECT pgtrickle.create_stream_table('alt_later', 'SELECT id FROM alt_src', initialize => false);
SELECT pgtrickle.alter_stream_table('alt_later', status => 'SUSPENDED');
SELECT pgtrickle.refresh_stream_table('alt_later');
\echo :SQLSTATE
SELECT pgtrickle.resume_stream_table('alt_later');
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_later';
-- alter_stream_table(status => 'ACTIVE') does the same as resume.
SELECT pgtrickle.alter_stream_table('alt_later', status => 'SUSPENDED');
SELECT pgtrickle.alter_stream_table('alt_later', status => 'ACTIVE');
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_later';
SELECT pgtrickle.refresh_stream_table('alt_later');
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_later';
SELECT pgtrickle.drop_stream_table('alt_later');

-------------------------------------------------------------------------------
-- diamond_consistency and diamond_schedule_policy
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('alt_st', diamond_consistency => 'NONE');
SELECT diamond_consistency, diamond_schedule_policy FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
SELECT pgtrickle.alter_stream_table('alt_st', diamond_schedule_policy => ' slowest');
SELECT diamond_consistency, diamond_schedule_policy FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
-- NULL leaves them unchanged.
SELECT pgtrickle.alter_stream_table('alt_st', schedule => '15m', diamond_consistency => NULL,
                                    diamond_schedule_policy => NULL);
SELECT schedule, diamond_consistency, diamond_schedule_policy FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
SELECT pgtrickle.alter_stream_table('alt_st', diamond_consistency => 'atomic',
                                    diamond_schedule_policy => 'fastest');
SELECT * FROM alt_props;

-------------------------------------------------------------------------------
-- query: validated like on create, the table is rebuilt and repopulated
-------------------------------------------------------------------------------
CREATE INDEX alt_st_id ON alt_st (id);
CREATE ROLE alt_reader;
GRANT SELECT ON alt_st TO alt_reader;

-- Same columns, different rows.
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, v FROM alt_src WHERE id <= 2');
SELECT * FROM alt_st ORDER BY id;
SELECT original_query, is_populated, status FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('alt_st', 1);

-- New columns: the storage table follows the new query; the relation, its grants and the
-- indexes on columns that are still there survive.
CREATE TEMP TABLE alt_relid AS SELECT 'alt_st'::regclass::oid AS relid;
SELECT pgtrickle.alter_stream_table('alt_st',
    query => 'SELECT id, w, w * 2 AS w2, v || ''!'' AS bang FROM alt_src');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'alt_st'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT * FROM alt_st ORDER BY id;
SELECT 'alt_st'::regclass::oid = relid AS same_relation FROM alt_relid;
SELECT has_table_privilege('alt_reader', 'alt_st', 'SELECT') AS reader_can_select;
SELECT indexrelid::regclass AS index_name FROM pg_index WHERE indrelid = 'alt_st'::regclass;
SELECT pgt_relid = 'alt_st'::regclass AS catalog_follows FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
REVOKE SELECT ON alt_st FROM alt_reader;
DROP ROLE alt_reader;

-- New sources are recorded, old ones forgotten.
CREATE TABLE alt_other (id int, x text);
INSERT INTO alt_other VALUES (1, 'x1'), (2, 'x2');
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, x FROM alt_other');
SELECT d.source_relid::regclass, d.source_type
FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'alt_st';
SELECT source_relid::regclass FROM pgtrickle.pgt_change_tracking ORDER BY source_relid::regclass::text;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'alt_src'::regclass ORDER BY 1;
SELECT * FROM alt_st ORDER BY id;
-- The old source is no longer protected (the drop is rolled back), the new one is.
BEGIN;
DROP TABLE alt_src;
ROLLBACK;
DROP TABLE alt_other;
\echo :SQLSTATE

-------------------------------------------------------------------------------
-- query of a stream table that other stream tables read
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, v FROM alt_src');
SELECT pgtrickle.create_stream_table('alt_down', 'SELECT id, v FROM alt_st');
SELECT * FROM alt_down ORDER BY id;

-- Keeping the columns the reader uses: allowed; the reader sees the new rows at its next
-- refresh.
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, v, w FROM alt_src WHERE id > 1');
SELECT * FROM alt_down ORDER BY id;
SELECT pgtrickle.refresh_stream_table('alt_down');
SELECT * FROM alt_down ORDER BY id;
SELECT * FROM alt_props;

-- Removing a column the reader uses would break it: refused like for a view, nothing changes.
\set VERBOSITY sqlstate
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, w FROM alt_src');
\set VERBOSITY default
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = 'alt_st'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT * FROM alt_props;
SELECT pgtrickle.refresh_stream_table('alt_down');
SELECT * FROM alt_down ORDER BY id;
SELECT pgtrickle.drop_stream_table('alt_down');

-------------------------------------------------------------------------------
-- query of a SUSPENDED stream table: stored, not run; no stale rows are shown
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('alt_st', status => 'SUSPENDED');
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, w FROM alt_src WHERE id = 1');
SELECT pgt_name, status, is_populated, original_query FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'alt_st';
SELECT count(*) AS rows_while_unpopulated FROM alt_st;
SELECT pgtrickle.resume_stream_table('alt_st');
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';
SELECT pgtrickle.refresh_stream_table('alt_st');
SELECT * FROM alt_st ORDER BY id;
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';

-- A failing new query leaves the old definition, rows and columns in place.
INSERT INTO alt_src VALUES (0, 'zero', 0);
SELECT pgtrickle.alter_stream_table('alt_st', query => 'SELECT id, 100 / w AS q FROM alt_src');
\echo :SQLSTATE
SELECT original_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'alt_st';
SELECT * FROM alt_st ORDER BY id;

SELECT pgtrickle.drop_stream_table('alt_st');
DROP TABLE alt_src;
DROP TABLE alt_other;
DROP TABLE alt_relid;
SELECT count(*) AS stream_tables FROM pgtrickle.pgt_stream_tables;
SELECT count(*) AS tracked_sources FROM pgtrickle.pgt_change_tracking;
