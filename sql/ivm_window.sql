-- Window functions in DIFFERENTIAL (src/ivm/op_window.cpp): the partitions a change touches are
-- recomputed; order-sensitive functions (row_number, lag, ...) are maintained by replacing their
-- partitions in the stream table, which needs the PARTITION BY columns selected at the top.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE iw (id int, p int, q text, x int, v numeric);
INSERT INTO iw SELECT g, g % 4, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END, g % 5, g * 1.5
FROM generate_series(1, 24) g;
INSERT INTO iw VALUES (25, NULL, NULL, 1, 2), (26, NULL, 'a', NULL, NULL);

CREATE TABLE iw_shapes (name text PRIMARY KEY, query text);
INSERT INTO iw_shapes VALUES
 ('iw_rank', 'SELECT id, p, rank() OVER w AS r, dense_rank() OVER w AS dr, percent_rank() OVER w AS pr, cume_dist() OVER w AS cd FROM iw WINDOW w AS (PARTITION BY p ORDER BY x)'),
 ('iw_rownum', 'SELECT id, p, row_number() OVER (PARTITION BY p ORDER BY x, id) AS rn, ntile(3) OVER (PARTITION BY p ORDER BY x, id) AS t FROM iw'),
 ('iw_offsets', 'SELECT id, p, lag(x) OVER w AS lg, lead(x, 2, -1) OVER w AS ld, first_value(id) OVER w AS fv, last_value(id) OVER w AS lv, nth_value(id, 2) OVER w AS nv FROM iw WINDOW w AS (PARTITION BY p ORDER BY x, id)'),
 ('iw_frames', 'SELECT id, p, sum(v) OVER (PARTITION BY p ORDER BY x, id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s_rows, sum(v) OVER (PARTITION BY p ORDER BY x RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) AS s_range, count(*) OVER (PARTITION BY p ORDER BY x GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE GROUP) AS c_groups, max(v) OVER (PARTITION BY p ORDER BY x RANGE UNBOUNDED PRECEDING EXCLUDE CURRENT ROW) AS m_excl FROM iw'),
 ('iw_two_partitions', 'SELECT id, p, q, sum(x) OVER (PARTITION BY p, q) AS s_pq, count(*) OVER (PARTITION BY p) AS c_p FROM iw'),
 ('iw_disjoint', 'SELECT id, sum(x) OVER (PARTITION BY p) AS s_p, count(*) OVER (PARTITION BY q) AS c_q FROM iw'),
 ('iw_whole', 'SELECT id, rank() OVER (ORDER BY x) AS r, sum(v) OVER () AS total FROM iw'),
 ('iw_over_agg', 'SELECT p, sum(x) AS sx, rank() OVER (ORDER BY sum(x) DESC) AS r FROM iw GROUP BY p'),
 ('iw_topk', 'SELECT id, p, rn FROM (SELECT id, p, row_number() OVER (PARTITION BY p ORDER BY v DESC, id) AS rn FROM iw) s WHERE rn <= 2'),
 ('iw_under_agg', 'SELECT r, count(*) AS n FROM (SELECT rank() OVER (PARTITION BY p ORDER BY x) AS r FROM iw) s GROUP BY r'),
 ('iw_ties', 'SELECT id, p, row_number() OVER (PARTITION BY p ORDER BY x) AS rn FROM iw WHERE id IS NOT NULL'),
 ('iw_covered', 'SELECT n FROM (SELECT row_number() OVER (PARTITION BY p ORDER BY x) AS n, p, x FROM iw) s WHERE p IS NOT NULL');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM iw_shapes ORDER BY name;
SELECT s.name, e.property, e.value
FROM iw_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property IN ('differential_support', 'differential_operators')
ORDER BY s.name, e.property;

-- Inserts, updates moving rows between partitions, a whole partition deleted, NULL partitions.
INSERT INTO iw VALUES (27, 1, 'a', 3, 10), (28, 2, 'b', 3, 11), (29, NULL, 'b', 0, 1);
UPDATE iw SET p = 3 WHERE id IN (1, 5);
UPDATE iw SET x = x + 2 WHERE id = 6;
DELETE FROM iw WHERE p = 0;
SELECT pgtrickle.refresh_stream_table(name) FROM iw_shapes ORDER BY name;
CREATE FUNCTION iw_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((TABLE %s) EXCEPT ALL (%s)) a) + '
	               '(SELECT count(*) FROM ((%s) EXCEPT ALL (TABLE %s)) b)', st, q, q, st) INTO n;
	RETURN n;
END $$;
SELECT s.name, CASE WHEN s.name = 'iw_ties' THEN NULL ELSE iw_diff(s.name, s.query) END AS differences,
       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id) FROM pgtrickle.pgt_refresh_history h
        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL') AS actions
FROM iw_shapes s ORDER BY s.name;
SELECT * FROM iw_topk ORDER BY p, rn;
-- Rows that tie in ORDER BY x get their numbers in an unspecified order (in the query too):
-- each partition's numbers and each partition's rows are compared (as multisets).
SELECT (SELECT count(*) FROM ((SELECT p, rn FROM iw_ties) EXCEPT ALL
        (SELECT p, row_number() OVER (PARTITION BY p ORDER BY x) FROM iw)) a) AS numbers_differ,
       (SELECT count(*) FROM ((SELECT id, p FROM iw_ties) EXCEPT ALL (SELECT id, p FROM iw)) b)
       + (SELECT count(*) FROM ((SELECT id, p FROM iw) EXCEPT ALL (SELECT id, p FROM iw_ties)) c)
         AS rows_differ,
       (SELECT count(*) FROM iw_ties t JOIN iw USING (id)
        WHERE t.rn > (SELECT count(*) FROM iw i WHERE i.p IS NOT DISTINCT FROM t.p)) AS out_of_range;

-- Refused in DIFFERENTIAL (0A000 naming the construct): order-sensitive functions whose
-- partitions cannot be replaced (PARTITION BY not selected, no PARTITION BY, below the top).
SELECT pgtrickle.create_stream_table('iw_no', 'SELECT id, row_number() OVER (PARTITION BY p ORDER BY x) AS rn FROM iw', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('iw_no', 'SELECT id, row_number() OVER (ORDER BY x) AS rn FROM iw', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('iw_no', 'SELECT rn, count(*) FROM (SELECT p, lag(id) OVER (PARTITION BY p ORDER BY x) AS rn FROM iw) s GROUP BY rn', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('iw_no', 'SELECT id FROM iw WHERE id IN (SELECT first_value(id) OVER (PARTITION BY p ORDER BY x) FROM iw)', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('iw_no', 'SELECT DISTINCT p, sum(x) OVER (PARTITION BY p) FROM iw', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
-- AUTO refreshes them FULL and says why.
SELECT pgtrickle.create_stream_table('iw_auto', 'SELECT id, row_number() OVER (ORDER BY x) AS rn FROM iw');
SELECT property, value FROM pgtrickle.explain_st('iw_auto')
WHERE property IN ('effective_mode', 'differential_support');

SELECT pgtrickle.drop_stream_table(name) FROM iw_shapes ORDER BY name;
SELECT pgtrickle.drop_stream_table('iw_auto');
DROP FUNCTION iw_diff(text, text);
DROP TABLE iw_shapes, iw;
