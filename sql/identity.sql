-- identity: a DIFFERENTIAL stream table is identical to its query, value by value (SPEC §9,
-- "Equal means identical"): numeric scale, float bits, strings that a nondeterministic collation
-- or citext call equal, NULLs, types without equality, as a multiset. Netting, row matching and
-- group keys never go through a type's "=" or through text.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL
SET extra_float_digits = 3;

-- Identical as multisets: the binary image (record_send) of every row of the storage table and
-- of the defining query, sorted, compared with bytea equality. Not EXCEPT, which uses "=".
CREATE FUNCTION pg_temp.identical(st text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    q text;
    stored bytea[];
    expected bytea[];
BEGIN
    SELECT defining_query INTO q FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = st::regclass;
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM %s __r', st) INTO stored;
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM (%s) __r', q) INTO expected;
    RETURN stored = expected;
END $$;
-- Refreshes st and reports the action taken and whether it is identical to its query.
CREATE FUNCTION pg_temp.check(st text) RETURNS TABLE (action text, identical boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pgtrickle.refresh_stream_table(st);
    RETURN QUERY
    SELECT h.action, pg_temp.identical(st)
    FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
    WHERE s.pgt_relid = st::regclass ORDER BY h.refresh_id DESC LIMIT 1;
END $$;

-------------------------------------------------------------------------------
-- numeric: 1.0 -> 1.00 is a change (the scale is part of the value)
-------------------------------------------------------------------------------
CREATE TABLE id_num (id int PRIMARY KEY, x numeric);
INSERT INTO id_num VALUES (1, 1.0), (2, 2.50), (3, NULL);
SELECT pgtrickle.create_stream_table('id_num_rows', 'SELECT id, x FROM id_num',
                                     refresh_mode => 'DIFFERENTIAL');
-- x first: rows are looked up by x's "=" (1.0 = 1.00), then told apart by identity.
SELECT pgtrickle.create_stream_table('id_num_x', 'SELECT x, x * 2 AS x2 FROM id_num',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_num_groups',
    'SELECT x, count(*) AS n FROM id_num GROUP BY x', refresh_mode => 'DIFFERENTIAL');
UPDATE id_num SET x = 1.00 WHERE id = 1;
SELECT * FROM pg_temp.check('id_num_rows');
SELECT * FROM pg_temp.check('id_num_x');
SELECT * FROM pg_temp.check('id_num_groups');
SELECT * FROM id_num_rows ORDER BY id;
SELECT * FROM id_num_x ORDER BY x, x2::text;
SELECT * FROM id_num_groups ORDER BY x;
-- Back and forth before one refresh: 1.00 -> 1.000 -> 1.00 nets to nothing; 2.50 -> 2.5 does not.
UPDATE id_num SET x = 1.000 WHERE id = 1;
UPDATE id_num SET x = 1.00 WHERE id = 1;
UPDATE id_num SET x = 2.5 WHERE id = 2;
SELECT * FROM pg_temp.check('id_num_rows');
SELECT * FROM pg_temp.check('id_num_x');
SELECT * FROM pg_temp.check('id_num_groups');
SELECT * FROM id_num_rows ORDER BY id;
SELECT * FROM id_num_x ORDER BY x, x2::text;
-- Two rows equal by "=" but not identical; delete one of them.
INSERT INTO id_num VALUES (4, 1.0);
SELECT * FROM pg_temp.check('id_num_x');
DELETE FROM id_num WHERE id = 1;
SELECT * FROM pg_temp.check('id_num_x');
SELECT * FROM id_num_x ORDER BY x, x2::text;
SELECT * FROM pg_temp.check('id_num_groups');
SELECT * FROM id_num_groups ORDER BY x;

-------------------------------------------------------------------------------
-- float8: 0 and -0 are equal but not identical; group keys survive extra_float_digits = 0
-------------------------------------------------------------------------------
CREATE TABLE id_float (id int PRIMARY KEY, g float8, v int);
INSERT INTO id_float VALUES (1, 0, 1), (2, 0.1::float8 + 0.2::float8, 10);
SELECT pgtrickle.create_stream_table('id_float_rows', 'SELECT g, id FROM id_float',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_float_groups',
    'SELECT g, sum(v) AS s, count(*) AS n FROM id_float GROUP BY g',
    refresh_mode => 'DIFFERENTIAL');
UPDATE id_float SET g = '-0' WHERE id = 1;
SELECT * FROM pg_temp.check('id_float_rows');
SELECT * FROM id_float_rows ORDER BY id;
-- 0.30000000000000004 prints as 0.3 with extra_float_digits = 0: the key must not be text.
SET extra_float_digits = 0;
INSERT INTO id_float VALUES (3, 0.1::float8 + 0.2::float8, 5);
SELECT * FROM pg_temp.check('id_float_groups');
SET extra_float_digits = 3;
SELECT * FROM id_float_groups ORDER BY g;

-------------------------------------------------------------------------------
-- A nondeterministic (case-insensitive) collation: 'a' -> 'A' is a change
-------------------------------------------------------------------------------
CREATE COLLATION id_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE id_coll (id int PRIMARY KEY, s text COLLATE id_ci);
INSERT INTO id_coll VALUES (1, 'a'), (2, 'b'), (3, 'B');
SELECT pgtrickle.create_stream_table('id_coll_rows', 'SELECT id, s FROM id_coll',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_coll_s', 'SELECT s FROM id_coll',
                                     refresh_mode => 'DIFFERENTIAL');
-- Pending changes keep the column's collation: a new 'A' passes the case-insensitive filter.
SELECT pgtrickle.create_stream_table('id_coll_filter', 'SELECT id FROM id_coll WHERE s = ''a''',
                                     refresh_mode => 'DIFFERENTIAL');
INSERT INTO id_coll VALUES (4, 'A');
SELECT * FROM pg_temp.check('id_coll_filter');
SELECT * FROM id_coll_filter ORDER BY id;
DELETE FROM id_coll WHERE id = 4;
SELECT * FROM pg_temp.check('id_coll_filter');
-- The output is plain text, the source's collation is not: changes are netted by identity too.
SELECT pgtrickle.create_stream_table('id_coll_c', 'SELECT id, s COLLATE "C" AS s FROM id_coll',
                                     refresh_mode => 'DIFFERENTIAL');
UPDATE id_coll SET s = 'A' WHERE id = 1;
SELECT * FROM pg_temp.check('id_coll_c');
SELECT * FROM id_coll_c ORDER BY id;
SELECT * FROM pg_temp.check('id_coll_rows');
SELECT * FROM pg_temp.check('id_coll_s');
SELECT * FROM id_coll_rows ORDER BY id;
SELECT s FROM id_coll_s ORDER BY s COLLATE "C";
-- 'b' and 'B' are equal: deleting 'B' must delete 'B', not 'b'.
DELETE FROM id_coll WHERE id = 3;
SELECT * FROM pg_temp.check('id_coll_s');
SELECT s FROM id_coll_s ORDER BY s COLLATE "C";
DELETE FROM id_coll WHERE id = 2;
INSERT INTO id_coll VALUES (3, 'B');
SELECT * FROM pg_temp.check('id_coll_s');
SELECT s FROM id_coll_s ORDER BY s COLLATE "C";

-------------------------------------------------------------------------------
-- citext: equal ignoring case, not identical
-------------------------------------------------------------------------------
CREATE EXTENSION citext;
CREATE TABLE id_cit (id int PRIMARY KEY, c citext);
INSERT INTO id_cit VALUES (1, 'x'), (2, 'y');
SELECT pgtrickle.create_stream_table('id_cit_st', 'SELECT c, id FROM id_cit',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_cit_text', 'SELECT id, c::text AS t FROM id_cit',
                                     refresh_mode => 'DIFFERENTIAL');
UPDATE id_cit SET c = 'X' WHERE id = 1;
SELECT * FROM pg_temp.check('id_cit_st');
SELECT * FROM id_cit_st ORDER BY id;
SELECT * FROM pg_temp.check('id_cit_text');
SELECT * FROM id_cit_text ORDER BY id;

-------------------------------------------------------------------------------
-- NULLs everywhere, duplicates (a multiset), DISTINCT and grouping with NULL keys
-------------------------------------------------------------------------------
CREATE TABLE id_null (id int PRIMARY KEY, a int, b text);
INSERT INTO id_null VALUES (1, NULL, NULL), (2, NULL, NULL), (3, 1, NULL), (4, NULL, 'x');
SELECT pgtrickle.create_stream_table('id_null_rows', 'SELECT a, b FROM id_null',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_null_distinct', 'SELECT DISTINCT a, b FROM id_null',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_null_groups',
    'SELECT a, b, count(*) AS n FROM id_null GROUP BY a, b', refresh_mode => 'DIFFERENTIAL');
DELETE FROM id_null WHERE id = 1;
UPDATE id_null SET b = 'y' WHERE id = 3;
UPDATE id_null SET a = 2 WHERE id = 4;
INSERT INTO id_null VALUES (5, NULL, 'y'), (6, 1, 'y');
SELECT * FROM pg_temp.check('id_null_rows');
SELECT * FROM pg_temp.check('id_null_distinct');
SELECT * FROM pg_temp.check('id_null_groups');
SELECT * FROM id_null_rows ORDER BY a, b;
SELECT * FROM id_null_groups ORDER BY a, b;
DELETE FROM id_null WHERE a IS NULL;
SELECT * FROM pg_temp.check('id_null_rows');
SELECT * FROM pg_temp.check('id_null_distinct');
SELECT * FROM pg_temp.check('id_null_groups');

-------------------------------------------------------------------------------
-- Types without equality (json): rows are matched and netted by identity all the same
-------------------------------------------------------------------------------
CREATE TABLE id_json (id int PRIMARY KEY, j json);
INSERT INTO id_json VALUES (1, '{"a":1}'), (2, '[1, 2]');
SELECT pgtrickle.create_stream_table('id_json_rows', 'SELECT id, j FROM id_json',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('id_json_j', 'SELECT j FROM id_json',
                                     refresh_mode => 'DIFFERENTIAL');
UPDATE id_json SET j = '{"a": 1}' WHERE id = 1;
INSERT INTO id_json VALUES (3, '[1, 2]');
SELECT * FROM pg_temp.check('id_json_rows');
SELECT * FROM pg_temp.check('id_json_j');
DELETE FROM id_json WHERE id = 2;
SELECT * FROM pg_temp.check('id_json_j');
SELECT j::text FROM id_json_j ORDER BY 1;

-- Clean up.
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'id\_%' ORDER BY pgt_id DESC;
DROP TABLE id_num, id_float, id_coll, id_cit, id_null, id_json;
DROP COLLATION id_ci;
DROP EXTENSION citext;
RESET client_min_messages;
RESET extra_float_digits;
RESET pg_trickle.differential_max_change_ratio;
