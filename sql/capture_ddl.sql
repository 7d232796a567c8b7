-- capture_ddl: change capture never loses a change (SPEC §9): ALTER TABLE on a source keeps its
-- pending changes (the buffer evolves in place, or every reader rebuilds FULL where values cannot
-- be carried over), a new query of an upstream stream table, and changes made under
-- session_replication_role = replica.
\set VERBOSITY default
\set SHOW_CONTEXT never
-- DIFFERENTIAL whenever it is possible (the tables are tiny): a FULL refresh would hide a lost
-- change.
SET pg_trickle.differential_max_change_ratio = 1000000;

-- 'ok' when the stream table holds exactly its query's rows (as multisets), else the difference.
CREATE FUNCTION cd_check(st text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text;
  cols text;
  extra bigint;
  missing bigint;
  n_st bigint;
  n_q bigint;
BEGIN
  SELECT defining_query, (SELECT string_agg(quote_ident(c), ', ' ORDER BY i)
                          FROM unnest(output_columns) WITH ORDINALITY u(c, i))
  INTO STRICT q, cols FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = st::regclass;
  EXECUTE format('SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL SELECT * FROM (%s) q) x',
                 cols, st, q) INTO extra;
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM (%s) q EXCEPT ALL SELECT %s FROM %s) x',
                 q, cols, st) INTO missing;
  EXECUTE format('SELECT count(*) FROM %s', st) INTO n_st;
  EXECUTE format('SELECT count(*) FROM (%s) q', q) INTO n_q;
  IF extra = 0 AND missing = 0 AND n_st = n_q THEN
    RETURN 'ok';
  END IF;
  RETURN format('%s rows, query %s rows: %s extra, %s missing', n_st, n_q, extra, missing);
END $$;

-- The action of the last refresh of a stream table.
CREATE FUNCTION cd_last(st text) RETURNS text LANGUAGE sql AS $$
  SELECT action FROM pgtrickle.get_refresh_history(st, 1)
$$;

-- Refreshes, then: the action taken and whether the contents equal the query.
CREATE FUNCTION cd_refresh(st text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgtrickle.refresh_stream_table(st);
  RETURN cd_last(st) || ' ' || cd_check(st);
END $$;

CREATE TABLE cd_src (id int PRIMARY KEY, v text, w int, unread text);
INSERT INTO cd_src VALUES (1, 'a', 10, 'x'), (2, 'b', 20, 'y'), (3, 'a', 30, 'z');
-- Two consumers of one buffer: a projection and a grouped query.
SELECT pgtrickle.create_stream_table('cd_rows', 'SELECT id, v, w FROM cd_src', '1h',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('cd_sums', 'SELECT v, sum(w) AS s, count(*) AS n
                                     FROM cd_src GROUP BY v', '1h', 'DIFFERENTIAL');

-------------------------------------------------------------------------------
-- ADD COLUMN keeps pending changes (they used to be dropped: NO_DATA, row missing)
-------------------------------------------------------------------------------
INSERT INTO cd_src VALUES (4, 'b', 40, 'w');
ALTER TABLE cd_src ADD COLUMN note text DEFAULT 'n';
SELECT cd_refresh('cd_rows');
SELECT * FROM cd_rows ORDER BY id;
-- Changes after the ALTER are captured with the new column; the other consumer still has the
-- insert made before it pending.
UPDATE cd_src SET w = w + 1, note = 'm' WHERE id = 1;
SELECT cd_refresh('cd_sums');
SELECT * FROM cd_sums ORDER BY v;
SELECT cd_refresh('cd_rows');

-------------------------------------------------------------------------------
-- DROP COLUMN of an unread column
-------------------------------------------------------------------------------
DELETE FROM cd_src WHERE id = 2;
ALTER TABLE cd_src DROP COLUMN unread;
INSERT INTO cd_src VALUES (5, 'c', 50);
SELECT cd_refresh('cd_rows');
SELECT cd_refresh('cd_sums');
SELECT * FROM cd_rows ORDER BY id;

-------------------------------------------------------------------------------
-- RENAME COLUMN, RENAME table, SET (fillfactor), OWNER TO: pending rows survive, and the
-- capture keeps working afterwards
-------------------------------------------------------------------------------
UPDATE cd_src SET v = 'c' WHERE id = 1;
ALTER TABLE cd_src RENAME COLUMN v TO label;
UPDATE cd_src SET label = 'd' WHERE id = 3;
SELECT cd_refresh('cd_rows');
SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cd_rows';

INSERT INTO cd_src VALUES (6, 'a', 60);
ALTER TABLE cd_src RENAME TO cd_source;
DELETE FROM cd_source WHERE id = 5;
SELECT cd_refresh('cd_rows');

UPDATE cd_source SET w = 0 WHERE id = 6;
ALTER TABLE cd_source SET (fillfactor = 50);
SELECT cd_refresh('cd_rows');

CREATE ROLE cd_other;
INSERT INTO cd_source VALUES (7, 'e', 70);
ALTER TABLE cd_source OWNER TO cd_other;
SELECT cd_refresh('cd_rows');
ALTER TABLE cd_source OWNER TO CURRENT_USER;
DROP ROLE cd_other;
SELECT cd_refresh('cd_sums');
SELECT * FROM cd_sums ORDER BY v;

-- Columns swapped by three renames in one transaction, with changes in between.
BEGIN;
ALTER TABLE cd_source RENAME COLUMN note TO tmp;
INSERT INTO cd_source VALUES (8, 'f', 80, 'note8');
ALTER TABLE cd_source RENAME COLUMN label TO note;
ALTER TABLE cd_source RENAME COLUMN tmp TO label;
INSERT INTO cd_source VALUES (9, 'note9', 90, 'g');
COMMIT;
SELECT cd_refresh('cd_rows');
SELECT * FROM cd_rows WHERE id >= 8 ORDER BY id;

-- The buffer's data columns are the source's live columns, in order, with the same types.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pgtrickle.pgt_change_tracking t
  ON a.attrelid = format('%I.%I', t.buffer_schema, t.buffer_name)::regclass
WHERE t.source_relid = 'cd_source'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

-------------------------------------------------------------------------------
-- Changes in the same transaction as the ALTER, before and after it, and a refresh in between
-------------------------------------------------------------------------------
BEGIN;
INSERT INTO cd_source VALUES (10, 'h', 100);
ALTER TABLE cd_source ADD COLUMN extra int DEFAULT 7, DROP COLUMN label;
UPDATE cd_source SET w = w * 2 WHERE id = 10;
SELECT cd_refresh('cd_rows');
DELETE FROM cd_source WHERE id = 1;
INSERT INTO cd_source VALUES (11, 'i', 110, 8);
COMMIT;
SELECT cd_refresh('cd_rows');
SELECT cd_refresh('cd_sums');

-------------------------------------------------------------------------------
-- ALTER COLUMN TYPE: buffered values cannot be carried over; every consumer with changes
-- pending rebuilds FULL, and explain_st says why
-------------------------------------------------------------------------------
INSERT INTO cd_source VALUES (12, 'j', 120);
ALTER TABLE cd_source ALTER COLUMN w TYPE bigint;
SELECT value FROM pgtrickle.explain_st('cd_sums') WHERE property = 'mode_reason';
SELECT cd_refresh('cd_rows');
SELECT cd_refresh('cd_sums');
-- Consumed by both: the next changes are DIFFERENTIAL again.
UPDATE cd_source SET w = w + 1000 WHERE id = 12;
SELECT cd_refresh('cd_rows');
SELECT cd_refresh('cd_sums');

-- The same with the type change in a transaction between changes, and a column nobody reads.
BEGIN;
UPDATE cd_source SET w = 5 WHERE id = 3;
ALTER TABLE cd_source ALTER COLUMN extra TYPE numeric(10, 2);
UPDATE cd_source SET w = 6, extra = 1.5 WHERE id = 4;
COMMIT;
SELECT value FROM pgtrickle.explain_st('cd_rows') WHERE property = 'mode_reason';
SELECT cd_refresh('cd_rows');
SELECT cd_refresh('cd_sums');
SELECT * FROM cd_rows ORDER BY id;

-------------------------------------------------------------------------------
-- Disabling the capture triggers does not switch capture off
-------------------------------------------------------------------------------
ALTER TABLE cd_source DISABLE TRIGGER USER;
INSERT INTO cd_source VALUES (13, 'k', 130);
SELECT cd_refresh('cd_rows');
SELECT replace(tgname, tgrelid::text, '<oid>') AS tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'cd_source'::regclass ORDER BY 1;
-- Dropping one by hand is refused.
DROP TRIGGER __pgt_capture_ins ON cd_source;
\echo :SQLSTATE
-- So is renaming one (the next ALTER TABLE would create it again: changes captured twice).
ALTER TRIGGER __pgt_capture_ins ON cd_source RENAME TO cd_renamed;
\echo :SQLSTATE

-- A column cannot take a name the change buffer reserves.
ALTER TABLE cd_source RENAME COLUMN extra TO __pgt_xid;
\echo :SQLSTATE

SELECT pgtrickle.drop_stream_table('cd_rows');
SELECT pgtrickle.drop_stream_table('cd_sums');
DROP TABLE cd_source;

-------------------------------------------------------------------------------
-- alter_stream_table(query) of a stream table other stream tables read: the readers must not
-- keep the old rows (they used to end with every row twice)
-------------------------------------------------------------------------------
CREATE TABLE cd_base (id int PRIMARY KEY, v int, k text);
INSERT INTO cd_base SELECT g, g * 10, 'k' || g % 2 FROM generate_series(1, 5) g;
SELECT pgtrickle.create_stream_table('cd_up', 'SELECT id, v, k FROM cd_base', '1h', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('cd_down', 'SELECT id, v FROM cd_up', '1h', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('cd_down_sum', 'SELECT v % 20 AS r, count(*) AS n,
                                     sum(v) AS s FROM cd_up GROUP BY v % 20', '1h', 'DIFFERENTIAL');
-- New columns (the storage is reshaped).
SELECT pgtrickle.alter_stream_table('cd_up', query => 'SELECT id, v, v * 2 AS v2 FROM cd_base');
SELECT cd_refresh('cd_down');
SELECT cd_refresh('cd_down_sum');
SELECT * FROM cd_down ORDER BY id;
-- Same columns, other rows (not reshaped: the deletes and inserts are captured).
SELECT pgtrickle.alter_stream_table('cd_up', query => 'SELECT id, v, v * 3 AS v2 FROM cd_base
                                    WHERE id > 2');
SELECT cd_refresh('cd_down');
SELECT cd_refresh('cd_down_sum');
-- A column whose type changes (not read by the readers).
SELECT pgtrickle.alter_stream_table('cd_up', query => 'SELECT id, v, (v * 3)::text AS v2
                                    FROM cd_base');
SELECT cd_refresh('cd_down');
SELECT cd_refresh('cd_down_sum');
-- With pending source changes too, and the readers refreshed in the alter's transaction.
BEGIN;
INSERT INTO cd_base VALUES (6, 60, 'k0');
SELECT pgtrickle.alter_stream_table('cd_up', query => 'SELECT id, v FROM cd_base');
SELECT cd_refresh('cd_down');
COMMIT;
SELECT cd_refresh('cd_down_sum');
SELECT * FROM cd_down ORDER BY id;
SELECT pgtrickle.drop_stream_table('cd_down');
SELECT pgtrickle.drop_stream_table('cd_down_sum');
SELECT pgtrickle.drop_stream_table('cd_up');
DROP TABLE cd_base;

-------------------------------------------------------------------------------
-- session_replication_role = replica (logical replication apply, bulk loaders) and local
-------------------------------------------------------------------------------
CREATE TABLE cd_rep (id int PRIMARY KEY, v int);
INSERT INTO cd_rep VALUES (1, 1), (2, 2), (3, 3);
SELECT pgtrickle.create_stream_table('cd_rep_rows', 'SELECT id, v FROM cd_rep', '1h',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('cd_rep_sum', 'SELECT v % 2 AS parity, sum(v) AS s
                                     FROM cd_rep GROUP BY v % 2', '1h', 'DIFFERENTIAL');
SET session_replication_role = replica;
INSERT INTO cd_rep VALUES (4, 4), (5, 5);
UPDATE cd_rep SET v = v * 10 WHERE id <= 2;
DELETE FROM cd_rep WHERE id = 3;
COPY cd_rep FROM stdin;
6	6
\.
RESET session_replication_role;
SELECT cd_refresh('cd_rep_rows');
SELECT cd_refresh('cd_rep_sum');
SELECT * FROM cd_rep_rows ORDER BY id;
-- Storage tables refuse DML under the replica role too.
SET session_replication_role = replica;
DELETE FROM cd_rep_rows;
RESET session_replication_role;
-- Mixed roles in one transaction, each change captured once.
BEGIN;
UPDATE cd_rep SET v = 100 WHERE id = 1;
SET LOCAL session_replication_role = replica;
UPDATE cd_rep SET v = 200 WHERE id = 2;
SET LOCAL session_replication_role = local;
DELETE FROM cd_rep WHERE id = 4;
COMMIT;
SELECT cd_refresh('cd_rep_rows');
SELECT cd_refresh('cd_rep_sum');
-- TRUNCATE under the replica role is seen too.
SET session_replication_role = replica;
TRUNCATE cd_rep;
INSERT INTO cd_rep VALUES (7, 7);
RESET session_replication_role;
SELECT cd_refresh('cd_rep_rows');
SELECT cd_refresh('cd_rep_sum');
SELECT * FROM cd_rep_rows ORDER BY id;
-- ALTER TABLE under the replica role still evolves the buffer.
SET session_replication_role = replica;
INSERT INTO cd_rep VALUES (8, 8);
ALTER TABLE cd_rep ADD COLUMN extra text;
INSERT INTO cd_rep VALUES (9, 9, 'e');
RESET session_replication_role;
SELECT cd_refresh('cd_rep_rows');
SELECT pgtrickle.drop_stream_table('cd_rep_rows');
SELECT pgtrickle.drop_stream_table('cd_rep_sum');
DROP TABLE cd_rep;

-- A partitioned source: the row trigger is cloned to every partition (also one created later),
-- firing only under the replica role.
CREATE TABLE cd_part (id int, region text, v int) PARTITION BY LIST (region);
CREATE TABLE cd_part_eu PARTITION OF cd_part FOR VALUES IN ('eu');
INSERT INTO cd_part VALUES (1, 'eu', 1);
SELECT pgtrickle.create_stream_table('cd_part_rows', 'SELECT id, region, v FROM cd_part', '1h',
                                     'DIFFERENTIAL');
CREATE TABLE cd_part_us PARTITION OF cd_part FOR VALUES IN ('us');
CREATE VIEW cd_part_triggers AS
SELECT c.relname, CASE WHEN t.tgname ~ '_[0-9]+$'
                  THEN regexp_replace(t.tgname, '[0-9]+$', '<oid of ' ||
                                      (regexp_match(t.tgname, '[0-9]+$'))[1]::oid::regclass || '>')
                  ELSE t.tgname END AS tgname, t.tgenabled
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relname LIKE 'cd\_part%' AND t.tgname LIKE '\_\_pgt\_capture%' ORDER BY 1, 2;
SELECT * FROM cd_part_triggers;
INSERT INTO cd_part VALUES (2, 'us', 2), (3, 'eu', 3);
SET session_replication_role = replica;
INSERT INTO cd_part VALUES (4, 'us', 4), (5, 'eu', 5);
UPDATE cd_part SET v = v * 10 WHERE id IN (1, 2);
DELETE FROM cd_part WHERE id = 3;
RESET session_replication_role;
SELECT cd_refresh('cd_part_rows');
SELECT * FROM cd_part_rows ORDER BY id;
-- A partition read by a stream table of its own gets its own row trigger next to the clone;
-- each change reaches both buffers once.
SELECT pgtrickle.create_stream_table('cd_eu_rows', 'SELECT id, v FROM cd_part_eu', '1h',
                                     'DIFFERENTIAL');
SELECT * FROM cd_part_triggers;
SET session_replication_role = replica;
INSERT INTO cd_part VALUES (7, 'eu', 7);
UPDATE cd_part_eu SET v = v + 1 WHERE id = 1;
DELETE FROM cd_part WHERE id = 5;
RESET session_replication_role;
SELECT cd_refresh('cd_part_rows');
SELECT cd_refresh('cd_eu_rows');
SELECT * FROM cd_eu_rows ORDER BY id;
-- ALTER TABLE of the parent changes the partition too: its own buffer follows (the DML runs
-- under the replica role, where both levels capture DML addressed to either).
SET session_replication_role = replica;
INSERT INTO cd_part_eu VALUES (8, 'eu', 8);
ALTER TABLE cd_part ADD COLUMN junk int, ADD COLUMN note text;
UPDATE cd_part_eu SET note = 'n', junk = 1 WHERE id = 1;
ALTER TABLE cd_part DROP COLUMN junk;
INSERT INTO cd_part VALUES (9, 'eu', 9, 'n9');
RESET session_replication_role;
SELECT cd_refresh('cd_part_rows');
SELECT cd_refresh('cd_eu_rows');
-- Dropping the partition's stream table leaves the parent's capture (the clone) in place.
SELECT pgtrickle.drop_stream_table('cd_eu_rows');
SELECT * FROM cd_part_triggers;
SELECT pgtrickle.drop_stream_table('cd_part_rows');
DROP VIEW cd_part_triggers;
DROP TABLE cd_part;

-------------------------------------------------------------------------------
-- Domains: buffers hold the base type, so a domain's DEFAULT or CHECK expression never runs in
-- the capture function or in the buffer's ALTER TABLE (both run as the extension owner): only
-- the table owner's own statements run it.
-------------------------------------------------------------------------------
CREATE ROLE cd_owner;
GRANT CREATE ON SCHEMA public TO cd_owner;
CREATE FUNCTION cd_noisy(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'domain expression ran as the table owner: %', current_user = 'cd_owner';
  RETURN $1 IS NULL OR $1 > 0;
END $$;
CREATE DOMAIN cd_dom AS int DEFAULT 1 + (cd_noisy(NULL))::int CHECK (cd_noisy(VALUE));
CREATE DOMAIN cd_dom_nn AS varchar(5) NOT NULL;
SET ROLE cd_owner;
CREATE TABLE cd_dsrc (id int PRIMARY KEY, d cd_dom, n cd_dom_nn, e int);
INSERT INTO cd_dsrc VALUES (1, 5, 'a', 1);
SELECT pgtrickle.create_stream_table('cd_drows', 'SELECT id, d + 0 AS d, n::text AS n
                                     FROM cd_dsrc', '1h', 'DIFFERENTIAL');
TRUNCATE cd_dsrc;
INSERT INTO cd_dsrc VALUES (2, 7, 'b', 2);
ALTER TABLE cd_dsrc ALTER COLUMN e TYPE cd_dom USING NULL;
ALTER TABLE cd_dsrc ADD COLUMN f cd_dom_nn DEFAULT 'x';
SELECT cd_refresh('cd_drows');
RESET ROLE;
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pgtrickle.pgt_change_tracking t
  ON a.attrelid = format('%I.%I', t.buffer_schema, t.buffer_name)::regclass
WHERE t.source_relid = 'cd_dsrc'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT pgtrickle.drop_stream_table('cd_drows');
DROP TABLE cd_dsrc;
DROP DOMAIN cd_dom;
DROP DOMAIN cd_dom_nn;
DROP FUNCTION cd_noisy(int);
REVOKE CREATE ON SCHEMA public FROM cd_owner;
DROP ROLE cd_owner;

SELECT count(*) AS tracked_sources FROM pgtrickle.pgt_change_tracking;
DROP FUNCTION cd_refresh(text);
DROP FUNCTION cd_last(text);
DROP FUNCTION cd_check(text);
