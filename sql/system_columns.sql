-- system_columns: odd but legal defining queries give a clear error or work, never an internal
-- error (XX000). System columns (xmin, ctid, tableoid, ...) and whole-row references cannot be
-- maintained DIFFERENTIALly (0A000 naming them); FULL and AUTO (which refreshes FULL) support
-- them. Composite types and collations of user schemas name the storage columns correctly.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;

CREATE TABLE sc_t (id int PRIMARY KEY, v int, s text);
INSERT INTO sc_t VALUES (1, 10, 'a'), (2, NULL, NULL);
CREATE VIEW sc_v AS SELECT ctid AS tid, id FROM sc_t;

-- System columns: 0A000 for DIFFERENTIAL, directly or through a view.
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT xmin AS x, id FROM sc_t',
                                     refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT id, t.ctid AS c FROM sc_t t',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT * FROM sc_v', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT id FROM sc_t WHERE tableoid > 0',
                                     refresh_mode => 'DIFFERENTIAL');
-- FULL and AUTO work (AUTO refreshes FULL and says why).
SELECT pgtrickle.create_stream_table('sc_full', 'SELECT tableoid::regclass AS tab, id FROM sc_t',
                                     refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('sc_auto', 'SELECT tid, id FROM sc_v', refresh_mode => 'AUTO');
SELECT property, value FROM pgtrickle.explain_st('sc_auto')
WHERE property IN ('effective_mode', 'differential_support') ORDER BY property;
INSERT INTO sc_t VALUES (3, 30, 'c');
SELECT pgtrickle.refresh_stream_table('sc_full');
SELECT pgtrickle.refresh_stream_table('sc_auto');
SELECT * FROM sc_full ORDER BY id;
SELECT (SELECT count(*) FROM sc_auto) AS n,
       (SELECT count(*) FROM sc_auto a JOIN sc_t t ON t.ctid = a.tid AND t.id = a.id) AS matching;

-- Whole-row references: 0A000 for DIFFERENTIAL; FULL and AUTO work.
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT t FROM sc_t t', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT v, count(t.*) AS n FROM sc_t t GROUP BY v',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_rows', 'SELECT t AS r, t.*::text AS txt FROM sc_t t',
                                     refresh_mode => 'AUTO');
SELECT * FROM sc_rows ORDER BY txt;
SELECT pgtrickle.create_stream_table('sc_count', 'SELECT v, count(t.*) AS n FROM sc_t t GROUP BY v',
                                     refresh_mode => 'AUTO');
SELECT * FROM sc_count ORDER BY v;

-- Composite-typed outputs of a user type, and a user-schema collation (the storage table is
-- created under a pinned search_path: the names must come out schema-qualified).
CREATE TYPE sc_pair AS (a int, b text);
CREATE COLLATION sc_c (provider = icu, locale = 'und');
SELECT pgtrickle.create_stream_table('sc_comp',
    'SELECT id, ROW(id, s)::sc_pair AS p, s COLLATE sc_c AS sc FROM sc_t',
    refresh_mode => 'DIFFERENTIAL');
UPDATE sc_t SET s = 'b' WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('sc_comp');
SELECT * FROM sc_comp ORDER BY id;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, c.collname
FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation AND a.attcollation <> 100
WHERE a.attrelid = 'sc_comp'::regclass AND a.attnum > 0 ORDER BY a.attnum;

-- TABLESAMPLE picks rows by where they are stored: 0A000 for DIFFERENTIAL.
SELECT pgtrickle.create_stream_table('sc_st', 'SELECT id FROM sc_t TABLESAMPLE SYSTEM (50)',
                                     refresh_mode => 'DIFFERENTIAL');
-- A source without columns (its rows still count).
CREATE TABLE sc_nocols ();
INSERT INTO sc_nocols DEFAULT VALUES;
SELECT pgtrickle.create_stream_table('sc_nocols_st', 'SELECT t.id FROM sc_t t, sc_nocols',
                                     refresh_mode => 'DIFFERENTIAL');
INSERT INTO sc_nocols DEFAULT VALUES;
SELECT pgtrickle.refresh_stream_table('sc_nocols_st');
SELECT id, count(*) FROM sc_nocols_st GROUP BY id ORDER BY id;

-- Queries without a source, ORDER BY, GROUP BY ordinal, empty sources, self-joins.
SELECT pgtrickle.create_stream_table('sc_values', 'VALUES (1, ''x''), (2, NULL)',
                                     refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('sc_values', 'VALUES (1, ''x''), (2, NULL)',
                                     refresh_mode => 'AUTO');
SELECT * FROM sc_values ORDER BY 1;
SELECT pgtrickle.create_stream_table('sc_const', 'SELECT 1 AS one WHERE false',
                                     refresh_mode => 'AUTO');
SELECT count(*) FROM sc_const;
CREATE TABLE sc_empty (id int, w numeric);
SELECT pgtrickle.create_stream_table('sc_misc1', 'SELECT id, v FROM sc_t ORDER BY v DESC',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_misc2', 'SELECT v, count(*) AS n FROM sc_t GROUP BY 1',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_misc3', 'SELECT id, sum(w) AS w FROM sc_empty GROUP BY id',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_misc4',
    'SELECT a.id, b.v FROM sc_t a JOIN sc_t b ON a.id = b.id', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sc_misc5', 'SELECT DISTINCT v, s IS NULL AS nos FROM sc_t',
                                     refresh_mode => 'DIFFERENTIAL');
INSERT INTO sc_t VALUES (4, NULL, NULL), (5, 10, 'e');
INSERT INTO sc_empty VALUES (1, 1.50);
UPDATE sc_t SET v = 11 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table(n)
FROM unnest(ARRAY['sc_misc1', 'sc_misc2', 'sc_misc3', 'sc_misc4', 'sc_misc5']) n;
SELECT * FROM sc_misc1 ORDER BY id;
SELECT * FROM sc_misc2 ORDER BY v;
SELECT * FROM sc_misc3 ORDER BY id;
SELECT * FROM sc_misc4 ORDER BY id;
SELECT * FROM sc_misc5 ORDER BY v, nos;
SELECT s.pgt_name, h.action
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE (s.pgt_name LIKE 'sc\_misc%' OR s.pgt_name = 'sc_nocols_st') AND h.initiated_by = 'MANUAL'
ORDER BY s.pgt_name;

-- Clean up.
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'sc\_%' ORDER BY pgt_id DESC;
DROP VIEW sc_v;
DROP TABLE sc_t, sc_empty, sc_nocols;
DROP TYPE sc_pair;
DROP COLLATION sc_c;
RESET client_min_messages;
RESET pg_trickle.differential_max_change_ratio;
