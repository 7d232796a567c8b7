-- deparse_names: the stored defining query means what the user wrote. PostgreSQL's deparser
-- prints column references unqualified when the query reads a single relation; ORDER BY and
-- DISTINCT ON resolve a bare name to an OUTPUT column first, so `SELECT w.b AS a, w.a AS b ...
-- ORDER BY a` printed as `... ORDER BY b` would sort by the other column (a fuzzer finding:
-- wrong rows in FULL). Each stream table below is compared with the user's own query text.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TABLE w (a int PRIMARY KEY, b int NOT NULL);
INSERT INTO w VALUES (1, 30), (2, 20), (3, 10), (4, 10);

-- Equal to the query (as written), as a multiset of row images.
CREATE FUNCTION pg_temp.same(st text, q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    stored bytea[];
    expected bytea[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM %s __r', st) INTO stored;
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM (%s) __r', q) INTO expected;
    RETURN stored = expected;
END $$;

-- Output names swapped against the input names: ORDER BY a means the output a (= w.b).
SELECT pgtrickle.create_stream_table('swap_full',
    'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 1', 'calculated', 'FULL');
SELECT pgtrickle.create_stream_table('swap_auto',
    'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 2', 'calculated', 'AUTO');
SELECT * FROM swap_full;
SELECT * FROM swap_auto ORDER BY a, b;
SELECT pg_temp.same('swap_full', 'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 1'),
       pg_temp.same('swap_auto', 'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 2');
-- The stored text qualifies every column reference.
SELECT defining_query FROM pgtrickle.stream_tables_info WHERE pgt_name = 'swap_full';

-- DISTINCT ON resolves names like ORDER BY.
SELECT pgtrickle.create_stream_table('swap_distinct_on',
    'SELECT DISTINCT ON (a) w.b AS a, w.a AS b FROM w ORDER BY a, b DESC', 'calculated', 'FULL');
SELECT * FROM swap_distinct_on ORDER BY a;
SELECT pg_temp.same('swap_distinct_on',
    'SELECT DISTINCT ON (a) w.b AS a, w.a AS b FROM w ORDER BY a, b DESC');

-- After changes, FULL and DIFFERENTIAL (where accepted) still follow the query as written.
SELECT pgtrickle.create_stream_table('swap_diff',
    'SELECT DISTINCT w.b AS a, w.a % 2 AS b FROM w', 'calculated', 'DIFFERENTIAL');
UPDATE w SET b = 5 WHERE a = 4;
INSERT INTO w VALUES (5, 1);
SELECT pgtrickle.refresh_stream_tables(ARRAY['swap_full', 'swap_auto', 'swap_distinct_on',
                                             'swap_diff']);
SELECT * FROM swap_full;
SELECT pg_temp.same('swap_full', 'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 1'),
       pg_temp.same('swap_auto', 'SELECT w.b AS a, w.a AS b FROM w ORDER BY a, b LIMIT 2'),
       pg_temp.same('swap_distinct_on',
                    'SELECT DISTINCT ON (a) w.b AS a, w.a AS b FROM w ORDER BY a, b DESC'),
       pg_temp.same('swap_diff', 'SELECT DISTINCT w.b AS a, w.a % 2 AS b FROM w');

SELECT pgtrickle.drop_stream_table(n)
FROM unnest(ARRAY['swap_full', 'swap_auto', 'swap_distinct_on', 'swap_diff']) n;
DROP TABLE w;

-- Grouping sets print their items by expression: two output columns over the same expression,
-- grouped as two items (ROLLUP (1, 2)), must stay two items (fuzzer seed 41243: the subtotal rows
-- were wrong in every mode).
CREATE TABLE g (k int, v int);
INSERT INTO g VALUES (1, 10), (1, 20), (2, 30), (NULL, 40);
SELECT pgtrickle.create_stream_table('rollup_dup',
    'SELECT g.k AS a, g.k AS b, count(*) AS n, sum(v) AS s FROM g GROUP BY ROLLUP (1, 2)',
    'calculated', 'FULL');
SELECT pgtrickle.create_stream_table('rollup_dup3',
    'SELECT g.k AS a, g.k AS b, g.k AS c, count(*) AS n FROM g GROUP BY CUBE (1, 2, 3)',
    'calculated', 'AUTO');
SELECT * FROM rollup_dup ORDER BY a, b, n;
SELECT pg_temp.same('rollup_dup',
           'SELECT g.k AS a, g.k AS b, count(*) AS n, sum(v) AS s FROM g GROUP BY ROLLUP (1, 2)'),
       pg_temp.same('rollup_dup3',
           'SELECT g.k AS a, g.k AS b, g.k AS c, count(*) AS n FROM g GROUP BY CUBE (1, 2, 3)');
INSERT INTO g VALUES (3, 1), (NULL, 2);
DELETE FROM g WHERE k = 1 AND v = 10;
SELECT pgtrickle.refresh_stream_tables(ARRAY['rollup_dup', 'rollup_dup3']);
SELECT pg_temp.same('rollup_dup',
           'SELECT g.k AS a, g.k AS b, count(*) AS n, sum(v) AS s FROM g GROUP BY ROLLUP (1, 2)'),
       pg_temp.same('rollup_dup3',
           'SELECT g.k AS a, g.k AS b, g.k AS c, count(*) AS n FROM g GROUP BY CUBE (1, 2, 3)');
SELECT defining_query FROM pgtrickle.stream_tables_info WHERE pgt_name = 'rollup_dup';
SELECT pgtrickle.drop_stream_table('rollup_dup');
SELECT pgtrickle.drop_stream_table('rollup_dup3');
DROP TABLE g;
