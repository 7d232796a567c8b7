-- Errors keep every field PostgreSQL gives them (position, context, schema/table/constraint
-- names), and names pg_trickle builds from a user's name are cut at character boundaries.
CREATE TABLE ef_src (id int PRIMARY KEY, v int);
INSERT INTO ef_src VALUES (1, 1), (2, 2);

-- A typo in the defining query: LINE and caret point into the query text (shown as QUERY).
SELECT pgtrickle.create_stream_table('ef_typo', 'SELECT id, vv FROM ef_src', '1h', 'FULL');
SELECT pgtrickle.create_stream_table('ef_typo', 'SELECT id
FROM ef_src WHER id > 1', '1h', 'FULL');
SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'ef_typo';

-- An error raised in a user's function keeps its CONTEXT lines.
CREATE FUNCTION ef_check(x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	IF x > 2 THEN
		RAISE EXCEPTION 'value % too large', x USING ERRCODE = '22003', HINT = 'Keep it small.';
	END IF;
	RETURN x;
END $$;
SELECT pgtrickle.create_stream_table('ef_fn', 'SELECT id, ef_check(v) AS v FROM ef_src', '1h', 'FULL');
INSERT INTO ef_src VALUES (3, 3);
\set VERBOSITY default
SELECT pgtrickle.refresh_stream_table('ef_fn');
DELETE FROM ef_src WHERE id = 3;

-- Schema, table and constraint names of an error raised inside a refresh reach the caller.
SELECT pgtrickle.create_stream_table('ef_st', 'SELECT v % 2 AS k FROM ef_src', '1h', 'FULL');
CREATE UNIQUE INDEX ef_st_k ON ef_st (k);
INSERT INTO ef_src VALUES (3, 3);
DO $$
DECLARE
	st text; sch text; tab text; con text; det text;
BEGIN
	PERFORM pgtrickle.refresh_stream_table('ef_st');
EXCEPTION WHEN unique_violation THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, sch = SCHEMA_NAME, tab = TABLE_NAME,
		con = CONSTRAINT_NAME, det = PG_EXCEPTION_DETAIL;
	RAISE NOTICE 'sqlstate %, schema %, table %, constraint %, detail %', st, sch, tab, con, det;
END $$;
DROP INDEX ef_st_k;
SELECT pgtrickle.refresh_stream_table('ef_st');

-- A name of 61 bytes ('a' and 30 two-byte characters): the index pg_trickle creates for a
-- DIFFERENTIAL stream table takes at most 40 bytes of it, cut between characters. Needs a UTF8
-- database.
SELECT pgtrickle.drop_stream_table('ef_fn');
SELECT pgtrickle.drop_stream_table('ef_st');
DROP TABLE ef_src;
DROP FUNCTION ef_check(int);
SELECT pg_catalog.current_database() AS ef_orig_db \gset
CREATE DATABASE ef_utf8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c ef_utf8
SET client_encoding = 'UTF8';
CREATE EXTENSION pg_trickle;
CREATE TABLE ef_src (id int PRIMARY KEY, v int);
SELECT pgtrickle.create_stream_table('aüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü',
	'SELECT id, v FROM ef_src', '1h', 'DIFFERENTIAL');
SELECT c.relname, pg_catalog.octet_length(c.relname::text) AS bytes,
	pg_catalog.length(c.relname::text) AS chars
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'aüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü'::regclass;
\c :ef_orig_db
DROP DATABASE ef_utf8 WITH (FORCE);
