-- dependencies: what a stream table reads is recorded, and its sources are protected like a
-- view's (SPEC §3.1, §4).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TEMP VIEW dep_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pgtrickle.pgt_dependencies) AS dependencies,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) AS history_rows,
       (SELECT count(*) FROM pgtrickle.pgt_change_tracking) AS tracked_sources,
       (SELECT count(*) FROM pg_class
         WHERE relnamespace = 'pgtrickle_changes'::regnamespace AND relkind = 'r') AS buffers,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\_\_pgt\_%') AS triggers;
CREATE TEMP VIEW dep_rows AS
SELECT st.pgt_name AS stream_table, d.source_relid::regclass AS source, d.source_type
FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
ORDER BY 1, d.source_relid::regclass::text;

CREATE TABLE dep_t (id int PRIMARY KEY, v int, u int);
INSERT INTO dep_t VALUES (1, 10, 100), (2, 20, 200);
CREATE TABLE dep_u (id int, w text);
INSERT INTO dep_u VALUES (1, 'one'), (2, 'two');
CREATE VIEW dep_v AS SELECT id, w FROM dep_u WHERE id > 0;
CREATE MATERIALIZED VIEW dep_m AS SELECT id, v FROM dep_t;

-------------------------------------------------------------------------------
-- Source types
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('dep_base', 'SELECT id, v FROM dep_t', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('dep_mixed',
    'SELECT b.id, b.v, v.w FROM dep_base b JOIN dep_v v ON v.id = b.id', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('dep_mat', 'SELECT id, v FROM dep_m', refresh_mode => 'FULL');
-- A source read twice is recorded once.
SELECT pgtrickle.create_stream_table('dep_self_join',
    'SELECT a.id, b.u FROM dep_t a JOIN dep_t b ON a.id = b.id', refresh_mode => 'FULL');
SELECT * FROM dep_rows;
SELECT * FROM dep_mixed ORDER BY id;

-- Change capture sits on base tables (including those under a view) and on stream tables
-- that other stream tables read; not on views or materialized views.
SELECT c.source_relid::regclass AS source, cardinality(c.consumers) AS consumers
FROM pgtrickle.pgt_change_tracking c ORDER BY c.source_relid::regclass::text;

-- Changes under the view reach the reader.
UPDATE dep_u SET w = 'uno' WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('dep_mixed');
SELECT * FROM dep_mixed ORDER BY id;

-------------------------------------------------------------------------------
-- Sources are protected like a view's sources
-------------------------------------------------------------------------------
DROP TABLE dep_u;
\echo :SQLSTATE
DROP VIEW dep_v;
\echo :SQLSTATE
DROP MATERIALIZED VIEW dep_m;
\echo :SQLSTATE
DROP TABLE dep_t;
\echo :SQLSTATE
-- A stream table read by another stream table is protected the same way.
DROP TABLE dep_base;
\echo :SQLSTATE
-- Dropping a column a stream table reads (u, read by dep_self_join only) fails like for a
-- view; other columns can go.
\set VERBOSITY sqlstate
ALTER TABLE dep_t DROP COLUMN u;
\set VERBOSITY default
ALTER TABLE dep_t ADD COLUMN unused int;
ALTER TABLE dep_t DROP COLUMN unused;
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = 'dep_t'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT * FROM dep_state;
SELECT * FROM dep_rows;

-------------------------------------------------------------------------------
-- drop_stream_table refuses while other stream tables read it
-------------------------------------------------------------------------------
SELECT pgtrickle.drop_stream_table('dep_base');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('dep_base', cascade => false);
\echo :SQLSTATE
SELECT to_regclass('dep_base') IS NOT NULL AS still_there;
SELECT * FROM dep_state;

-- cascade => true drops the readers too, and their catalog rows.
SELECT pgtrickle.create_stream_table('dep_deeper', 'SELECT id FROM dep_mixed', refresh_mode => 'FULL');
SELECT pgtrickle.drop_stream_table('dep_base', cascade => true);
SELECT to_regclass('dep_base') IS NULL AS base_gone, to_regclass('dep_mixed') IS NULL AS mixed_gone,
       to_regclass('dep_deeper') IS NULL AS deeper_gone;
SELECT * FROM dep_rows;
SELECT c.source_relid::regclass AS source, cardinality(c.consumers) AS consumers
FROM pgtrickle.pgt_change_tracking c ORDER BY c.source_relid::regclass::text;

-------------------------------------------------------------------------------
-- DROP ... CASCADE of a source drops the stream tables reading it
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('dep_on_view', 'SELECT id, w FROM dep_v', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('dep_on_st', 'SELECT id FROM dep_on_view', refresh_mode => 'FULL');
SET client_min_messages = warning;  -- the cascade NOTICE lists relations in pg_depend order
DROP VIEW dep_v CASCADE;
RESET client_min_messages;
SELECT to_regclass('dep_on_view') IS NULL AS on_view_gone, to_regclass('dep_on_st') IS NULL AS on_st_gone;
SELECT * FROM dep_rows;
-- dep_u lost its last consumer: its capture is gone.
SELECT tgname FROM pg_trigger WHERE tgrelid = 'dep_u'::regclass;
DROP TABLE dep_u;

SET client_min_messages = warning;
DROP MATERIALIZED VIEW dep_m CASCADE;
RESET client_min_messages;
SELECT to_regclass('dep_mat') IS NULL AS mat_gone;

SET client_min_messages = warning;
DROP TABLE dep_t CASCADE;
RESET client_min_messages;
SELECT to_regclass('dep_self_join') IS NULL AS self_join_gone;
SELECT * FROM dep_state;

-------------------------------------------------------------------------------
-- DROP TABLE of the storage table itself cleans the catalog
-------------------------------------------------------------------------------
CREATE TABLE dep_t (id int PRIMARY KEY, v int);
INSERT INTO dep_t VALUES (1, 10);
SELECT pgtrickle.create_stream_table('dep_direct', 'SELECT id, v FROM dep_t', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('dep_direct2', 'SELECT id FROM dep_direct', refresh_mode => 'FULL');
DROP TABLE dep_direct;
\echo :SQLSTATE
DROP TABLE dep_direct2;
SELECT * FROM dep_rows;
DROP TABLE dep_direct;
SELECT * FROM dep_state;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'dep_t'::regclass;
-- A dropped stream table in a transaction that rolls back is back, catalog included.
SELECT pgtrickle.create_stream_table('dep_direct', 'SELECT id, v FROM dep_t', refresh_mode => 'FULL');
BEGIN;
DROP TABLE dep_direct;
SELECT count(*) FROM pgtrickle.pgt_stream_tables;
ROLLBACK;
SELECT pgt_name, status FROM pgtrickle.pgt_stream_tables;
SELECT pgtrickle.refresh_stream_table('dep_direct');
SELECT * FROM dep_direct;

-------------------------------------------------------------------------------
-- Renames: the stream table follows; sources can be renamed like a view's
-------------------------------------------------------------------------------
ALTER TABLE dep_direct RENAME TO dep_renamed;
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables;
SELECT name FROM pgtrickle.pgt_status();
CREATE SCHEMA dep_s;
ALTER TABLE dep_renamed SET SCHEMA dep_s;
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables;
SELECT pgtrickle.refresh_stream_table('dep_s.dep_renamed');
SELECT pgtrickle.refresh_stream_table('dep_renamed');
\echo :SQLSTATE

ALTER TABLE dep_t RENAME TO dep_t_renamed;
INSERT INTO dep_t_renamed VALUES (2, 20);
SELECT pgtrickle.refresh_stream_table('dep_s.dep_renamed');
SELECT * FROM dep_s.dep_renamed ORDER BY id;
ALTER TABLE dep_t_renamed RENAME COLUMN v TO v_renamed;
INSERT INTO dep_t_renamed VALUES (3, 30);
SELECT pgtrickle.refresh_stream_table('dep_s.dep_renamed');
SELECT * FROM dep_s.dep_renamed ORDER BY id;
ALTER TABLE dep_t_renamed RENAME TO dep_t;
ALTER TABLE dep_t RENAME COLUMN v_renamed TO v;

-------------------------------------------------------------------------------
-- ALTER TABLE on a source marks readers needs_reinit; the next refresh rebuilds them
-------------------------------------------------------------------------------
ALTER TABLE dep_t ALTER COLUMN v TYPE text;
SELECT pgt_name, needs_reinit FROM pgtrickle.pgt_stream_tables;
SELECT pgtrickle.refresh_stream_table('dep_s.dep_renamed');
SELECT pgt_name, needs_reinit FROM pgtrickle.pgt_stream_tables;
SELECT action, status FROM pgtrickle.get_refresh_history('dep_s.dep_renamed', 1);
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'dep_s.dep_renamed'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT * FROM dep_s.dep_renamed ORDER BY id;
-- Capture follows the new shape of the source.
INSERT INTO dep_t VALUES (4, 'forty');
SELECT pgtrickle.refresh_stream_table('dep_s.dep_renamed');
SELECT * FROM dep_s.dep_renamed ORDER BY id;

SELECT pgtrickle.drop_stream_table('dep_s.dep_renamed');
DROP SCHEMA dep_s;
DROP TABLE dep_t;
SELECT * FROM dep_state;
