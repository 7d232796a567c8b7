-- names_quoting: stream-table names resolve like relation names; quoting rules apply, and no
-- name or query text is ever pasted into SQL unquoted (SPEC §3.2).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE nq_src (id int PRIMARY KEY, "Mixed Case" text);
INSERT INTO nq_src VALUES (1, 'a'), (2, 'b');
CREATE SCHEMA "My Schema";

-- Spaces, capitals and double quotes in the schema and the table name.
SELECT pgtrickle.create_stream_table('"My Schema"."Odd ""Name"""',
                                     'SELECT id, "Mixed Case" FROM nq_src');
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables;
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = '"My Schema"."Odd ""Name"""'::regclass;
SELECT * FROM "My Schema"."Odd ""Name""" ORDER BY id;
SELECT name FROM pgtrickle.pgt_status();
SELECT pgtrickle.refresh_stream_table('"My Schema"."Odd ""Name"""');
SELECT property, value FROM pgtrickle.explain_st('"My Schema"."Odd ""Name"""')
WHERE property IN ('name', 'sources');
SELECT action, status FROM pgtrickle.get_refresh_history('"My Schema"."Odd ""Name"""');
SELECT name FROM pgtrickle.st_refresh_stats();
SELECT pgt_schema, pgt_name FROM pgtrickle.pg_stat_stream_tables;

-- Unquoted names fold to lower case; quoted ones do not.
SELECT pgtrickle.refresh_stream_table('"my schema"."Odd ""Name"""');
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('"My Schema"."odd ""name"""');
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('My Schema.Odd "Name"');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('NQ_Upper', 'SELECT id FROM nq_src');
SELECT pgtrickle.create_stream_table('"NQ_Upper"', 'SELECT id FROM nq_src');
SELECT pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_name ILIKE 'nq\_upper' ORDER BY 1;
SELECT pgtrickle.drop_stream_table('nq_upper');
SELECT pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_name ILIKE 'nq\_upper' ORDER BY 1;
SELECT pgtrickle.drop_stream_table('"NQ_Upper"');

-- A stream table with an odd name read by another one, and shown in the DAG functions.
SELECT pgtrickle.create_stream_table('"My Schema"."reader of odd"',
                                     'SELECT id FROM "My Schema"."Odd ""Name"""');
SELECT tree_line, node, node_type FROM pgtrickle.dependency_tree();
SELECT d.source_relid::regclass AS source, d.source_type
FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
WHERE st.pgt_name = 'reader of odd';
-- DML on it is refused.
INSERT INTO "My Schema"."Odd ""Name""" VALUES (9, 'z');
SELECT pgtrickle.drop_stream_table('"My Schema"."Odd ""Name"""');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('"My Schema"."Odd ""Name"""', cascade => true);
SELECT count(*) AS stream_tables FROM pgtrickle.pgt_stream_tables;

-- Odd column names: quoted in the storage table and in the stored query.
SELECT pgtrickle.create_stream_table('"My Schema".cols',
    'SELECT id AS "select", "Mixed Case" AS "two words", id * 2 AS "a""quote" FROM nq_src');
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = '"My Schema".cols'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
UPDATE nq_src SET "Mixed Case" = 'A' WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('"My Schema".cols');
SELECT * FROM "My Schema".cols ORDER BY 1;
SELECT pgtrickle.drop_stream_table('"My Schema".cols');

-------------------------------------------------------------------------------
-- Injection attempts fail cleanly and change nothing
-------------------------------------------------------------------------------
CREATE TEMP VIEW nq_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pg_class WHERE relname LIKE 'nq%') AS nq_relations,
       (SELECT count(*) FROM nq_src) AS source_rows;
SELECT * FROM nq_state;

-- Not a valid name: rejected before anything happens.
SELECT pgtrickle.create_stream_table('nq_x; DROP TABLE nq_src; --', 'SELECT id FROM nq_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('nq_x(id int); DROP TABLE nq_src', 'SELECT id FROM nq_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('"nq_x', 'SELECT id FROM nq_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('', 'SELECT id FROM nq_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('nq.', 'SELECT id FROM nq_src');
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('nq_src; DROP TABLE nq_src');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('nq_src CASCADE');
\echo :SQLSTATE
SELECT * FROM pgtrickle.get_refresh_history('x''); DROP TABLE nq_src; --');
\echo :SQLSTATE
SELECT * FROM nq_state;

-- A quoted name may contain anything: it is just a name.
SELECT pgtrickle.create_stream_table('"nq_x; DROP TABLE nq_src; --"', 'SELECT id FROM nq_src');
SELECT pgtrickle.create_stream_table('"nq_y''); DROP TABLE nq_src; --"', 'SELECT id FROM nq_src');
SELECT pgt_name FROM pgtrickle.pgt_stream_tables ORDER BY 1;
SELECT * FROM "nq_x; DROP TABLE nq_src; --" ORDER BY id;
UPDATE nq_src SET id = 3 WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('"nq_x; DROP TABLE nq_src; --"');
SELECT pgtrickle.refresh_stream_table('"nq_y''); DROP TABLE nq_src; --"');
SELECT * FROM "nq_y'); DROP TABLE nq_src; --" ORDER BY id;
SELECT name FROM pgtrickle.pgt_status() ORDER BY 1;
SELECT pgtrickle.drop_stream_table('"nq_x; DROP TABLE nq_src; --"');
SELECT pgtrickle.drop_stream_table('"nq_y''); DROP TABLE nq_src; --"');
SELECT * FROM nq_state;

-- Schedules and enumerated values are never pasted into SQL either.
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src',
                                     schedule => '1m''; DROP TABLE nq_src; --');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src',
                                     refresh_mode => 'FULL''; DROP TABLE nq_src; --');
\echo :SQLSTATE
SELECT * FROM nq_state;

-- The query is analyzed as one statement: a second one is rejected, not run.
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src; DROP TABLE nq_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src) AS q; DROP TABLE nq_src; --');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src -- ');
SELECT * FROM nq_z ORDER BY id;
SELECT pgtrickle.refresh_stream_table('nq_z');
SELECT pgtrickle.drop_stream_table('nq_z');
SELECT pgtrickle.create_stream_table('nq_z', 'SELECT id FROM nq_src /* open comment');
\echo :SQLSTATE
SELECT * FROM nq_state;

DROP VIEW nq_state;
DROP SCHEMA "My Schema";
DROP TABLE nq_src;
