-- GROUPING SETS / ROLLUP / CUBE in DIFFERENTIAL (src/ivm/op_grouping_sets.cpp): one aggregate
-- per grouping set, each recomputing its affected groups.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE ig (a int, b text, c numeric, d int);
INSERT INTO ig SELECT g % 3, 'b' || g % 2, g * 1.5, g FROM generate_series(1, 12) g;
INSERT INTO ig VALUES (NULL, 'b0', 1, 100), (1, NULL, NULL, 101);

CREATE TABLE ig_shapes (name text PRIMARY KEY, query text);
INSERT INTO ig_shapes VALUES
 ('ig_rollup', 'SELECT a, b, count(*) AS n, sum(c) AS sc, grouping(a, b) AS g FROM ig GROUP BY ROLLUP (a, b)'),
 ('ig_cube_having', 'SELECT a, b, count(*) AS n, max(d) AS md, grouping(a) AS ga, grouping(b) AS gb FROM ig GROUP BY CUBE (a, b) HAVING count(*) > 1'),
 ('ig_sets', 'SELECT a, b, d % 2 AS dm, sum(d) AS sd FROM ig GROUP BY GROUPING SETS ((a, b), (a), (d % 2), ())'),
 ('ig_mixed', 'SELECT a, b, count(*) AS n FROM ig GROUP BY ROLLUP (a), b'),
 ('ig_no_aggs', 'SELECT a, a + 1 AS a1 FROM ig GROUP BY GROUPING SETS ((a), (a), ())'),
 ('ig_window', 'SELECT a, sum(c) AS sc, rank() OVER (ORDER BY sum(c)) AS r FROM ig GROUP BY ROLLUP (a)'),
 ('ig_distinct_sets', 'SELECT a, b, count(*) AS n FROM ig GROUP BY DISTINCT ROLLUP (a, b), ROLLUP (a)');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM ig_shapes ORDER BY name;
SELECT s.name, e.property, e.value
FROM ig_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property IN ('differential_support', 'differential_operators')
ORDER BY s.name, e.property;

INSERT INTO ig VALUES (5, 'b9', 2.25, 7), (NULL, NULL, NULL, NULL);
UPDATE ig SET a = 2 WHERE d = 3;
DELETE FROM ig WHERE d IN (4, 100);
SELECT pgtrickle.refresh_stream_table(name) FROM ig_shapes ORDER BY name;
CREATE FUNCTION ig_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((TABLE %s) EXCEPT ALL (%s)) a) + '
	               '(SELECT count(*) FROM ((%s) EXCEPT ALL (TABLE %s)) b)', st, q, q, st) INTO n;
	RETURN n;
END $$;
SELECT s.name, ig_diff(s.name, s.query) AS differences,
       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id) FROM pgtrickle.pgt_refresh_history h
        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL') AS actions
FROM ig_shapes s ORDER BY s.name;
SELECT * FROM ig_rollup ORDER BY g, a, b;
-- Every row deleted: the grand total of the empty set stays (count 0).
DELETE FROM ig;
SELECT pgtrickle.refresh_stream_table(name) FROM ig_shapes ORDER BY name;
SELECT s.name, ig_diff(s.name, s.query) AS differences FROM ig_shapes s ORDER BY s.name;
SELECT * FROM ig_rollup;

-- Refused in DIFFERENTIAL (0A000 naming the construct).
SELECT pgtrickle.create_stream_table('ig_no', 'SELECT DISTINCT a FROM ig GROUP BY ROLLUP (a, b)', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE

SELECT pgtrickle.drop_stream_table(name) FROM ig_shapes ORDER BY name;
DROP FUNCTION ig_diff(text, text);
DROP TABLE ig_shapes, ig;
