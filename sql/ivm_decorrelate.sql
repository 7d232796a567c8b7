-- Decorrelation rewrites of DIFFERENTIAL (src/ivm/rw_*.cpp, op_semi_join.cpp): scalar aggregate
-- subqueries become joins, NOT IN over NOT NULL columns the anti-join. Each shape: its operator
-- tree (no recompute where a rewrite applies; recompute where it must not), then changes that
-- empty groups, move keys, add NULLs, and DIFFERENTIAL refreshes compared with the query by
-- identity (row text multisets, extra_float_digits = 3: numeric scale and float bits count).
SET pg_trickle.differential_max_change_ratio = 1000;
SET extra_float_digits = 3;
CREATE TABLE dc_t (id int PRIMARY KEY, k numeric, k2 int, v numeric, f float8);
CREATE TABLE dc_u (id int PRIMARY KEY, k numeric, k2 int, w numeric NOT NULL);
CREATE TABLE dc_s (id int PRIMARY KEY, ref int NOT NULL, opt int);
INSERT INTO dc_t SELECT g, (g % 5)::numeric, g % 3, g * 1.5, g / 4.0 FROM generate_series(1, 20) g;
INSERT INTO dc_t VALUES (21, NULL, 1, 7, 0.1), (22, 9, NULL, 3, -0.0);
INSERT INTO dc_u SELECT g, (g % 4)::numeric, g % 3, g * 2 FROM generate_series(1, 16) g;
INSERT INTO dc_u VALUES (17, 1.00, 1, 5), (18, NULL, 2, 100);
INSERT INTO dc_s SELECT g, g % 7, g + 100 FROM generate_series(1, 10) g;

CREATE TABLE dc_shapes (name text PRIMARY KEY, query text);
INSERT INTO dc_shapes VALUES
 -- uncorrelated scalar aggregate: WHERE, select list, HAVING (GROUP BY), over an empty input
 ('dc_where', 'SELECT id, v FROM dc_t WHERE v > (SELECT avg(w) FROM dc_u)'),
 ('dc_select', 'SELECT id, v - (SELECT min(w) FROM dc_u) AS above, f FROM dc_t WHERE k2 = 1'),
 ('dc_having', 'SELECT k, sum(v) AS total FROM dc_t GROUP BY k HAVING sum(v) > (SELECT sum(v) * 0.15 FROM dc_t)'),
 ('dc_having_int', 'SELECT k2, sum(v) AS total, count(*) AS n FROM dc_t GROUP BY k2 HAVING sum(v) > (SELECT sum(v) * 0.2 FROM dc_t)'),
 ('dc_empty_max', 'SELECT id FROM dc_t WHERE v > coalesce((SELECT max(w) FROM dc_u WHERE w > 1000), 25)'),
 ('dc_empty_count', 'SELECT id, k FROM dc_t WHERE (SELECT count(*) FROM dc_u WHERE w > 1000) = 0'),
 ('dc_two_scalars', 'SELECT id FROM dc_t WHERE v BETWEEN (SELECT min(w) FROM dc_u) AND (SELECT avg(w) FROM dc_u)'),
 ('dc_agg_where', 'SELECT k2, count(*) AS n FROM dc_t WHERE v < (SELECT avg(w) FROM dc_u) GROUP BY k2'),
 -- correlated scalar aggregate, equality correlation, strict conjunct, NULL on empty
 ('dc_corr_avg', 'SELECT t.id, t.v FROM dc_t t WHERE t.v < (SELECT 0.9 * avg(u.w) FROM dc_u u WHERE u.k = t.k)'),
 ('dc_corr_two', 'SELECT t.id FROM dc_t t WHERE t.v >= (SELECT sum(u.w) / 4 FROM dc_u u WHERE u.k = t.k AND u.k2 = t.k2 AND u.w > 2)'),
 ('dc_corr_min_eq', 'SELECT t.id, t.k FROM dc_t t WHERE t.v * 4 = (SELECT 3 * min(u.w) FROM dc_u u WHERE t.id = u.id)'),
 ('dc_corr_avg_int', 'SELECT t.id FROM dc_t t WHERE t.k2 + 0.5 >= (SELECT avg(u.k2) + stddev(u.w::float8) / 100 FROM dc_u u WHERE u.k = t.k)'),
 ('dc_corr_agg', 'SELECT t.k2, sum(t.v) AS total FROM dc_t t WHERE t.v > (SELECT avg(u.w) FROM dc_u u WHERE u.k2 = t.k2) GROUP BY t.k2'),
 -- not rewritten (the subquery stays with recompute): HAVING (zero or one row), DISTINCT over a
-- GROUP BY (S's column would be an unselected key), count() is 0
-- over no rows, a conjunct
 -- not strict in the subquery, a non-equality correlation, an expression correlation
 ('dc_keep_having', 'SELECT id FROM dc_t WHERE v > coalesce((SELECT max(w) FROM dc_u HAVING count(*) > 17), 0)'),
 ('dc_keep_distinct', 'SELECT DISTINCT k2, count(*) > 1 AS many FROM dc_t GROUP BY k2 HAVING sum(v) > (SELECT avg(w) FROM dc_u)'),
 ('dc_keep_count', 'SELECT t.id FROM dc_t t WHERE t.v >= (SELECT count(*) FROM dc_u u WHERE u.k = t.k)'),
 ('dc_keep_isnull', 'SELECT t.id FROM dc_t t WHERE (SELECT max(u.w) FROM dc_u u WHERE u.k = t.k) IS NULL'),
 ('dc_keep_coalesce', 'SELECT t.id FROM dc_t t WHERE t.v > coalesce((SELECT max(u.w) FROM dc_u u WHERE u.k = t.k), 0)'),
 ('dc_keep_lt', 'SELECT t.id FROM dc_t t WHERE t.v * 4 > (SELECT max(u.w) FROM dc_u u WHERE u.k < t.k)'),
 ('dc_keep_expr', 'SELECT t.id FROM dc_t t WHERE t.v * 4 > (SELECT max(u.w) FROM dc_u u WHERE u.k = t.k + 1)'),
 -- NOT IN: the anti-join over NOT NULL columns, recomputed when either side can be NULL
 ('dc_not_in', 'SELECT u.id, u.w FROM dc_u u WHERE u.id NOT IN (SELECT s.ref FROM dc_s s WHERE s.id > 2)'),
 ('dc_not_in_null_inner', 'SELECT u.id FROM dc_u u WHERE u.id + 100 NOT IN (SELECT s.opt FROM dc_s s)'),
 ('dc_not_in_null_outer', 'SELECT t.id FROM dc_t t WHERE t.k2 NOT IN (SELECT s.ref FROM dc_s s WHERE s.ref > 1)');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM dc_shapes ORDER BY name;
SELECT s.name, e.value AS operators
FROM dc_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property = 'differential_operators'
ORDER BY s.name;

CREATE FUNCTION dc_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM (SELECT r::text FROM (TABLE %s) r EXCEPT ALL '
	               'SELECT r::text FROM (%s) r) a) + (SELECT count(*) FROM (SELECT r::text '
	               'FROM (%s) r EXCEPT ALL SELECT r::text FROM (TABLE %s) r) b)', st, q, q, st)
	INTO n;
	RETURN n;
END $$;
CREATE FUNCTION dc_rows(st text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', st) INTO n;
	RETURN n;
END $$;
CREATE FUNCTION dc_check() RETURNS TABLE (name text, differences bigint, rows bigint, actions text)
LANGUAGE sql AS $$
	SELECT s.name, dc_diff(s.name, s.query),
	       dc_rows(s.name),
	       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id)
	        FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
	        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL')
	FROM dc_shapes s ORDER BY s.name
$$;

-- Round 1: a key's inner group emptied (k = 2), a key gaining its first inner rows (9), NULL
-- keys on both sides, numeric scale variants of one key (1.0 = 1.00), key updates.
DELETE FROM dc_u WHERE k = 2;
INSERT INTO dc_u VALUES (30, 9.0, 2, 40), (31, NULL, NULL, 1), (32, 1.000, 1, 3);
UPDATE dc_t SET k = 3.00 WHERE id IN (3, 4);
UPDATE dc_t SET v = v + 10 WHERE id % 6 = 0;
INSERT INTO dc_t VALUES (23, 2, 2, 0, 1e-300), (24, NULL, NULL, NULL, NULL);
UPDATE dc_s SET ref = 12 WHERE id = 5;
SELECT pgtrickle.refresh_stream_table(name) FROM dc_shapes ORDER BY name;
SELECT * FROM dc_check();

-- Round 2: the uncorrelated inputs become empty-ish (every w > 1000 row appears), a NULL enters
-- the NOT IN subquery's nullable column list, a whole outer key group is deleted.
INSERT INTO dc_u VALUES (40, 0, 0, 5000);
UPDATE dc_s SET opt = NULL WHERE id = 4;
DELETE FROM dc_t WHERE k = 0;
DELETE FROM dc_s WHERE id = 9;
SELECT pgtrickle.refresh_stream_table(name) FROM dc_shapes ORDER BY name;
SELECT * FROM dc_check();

-- Round 3: the scalar subquery's own input emptied.
DELETE FROM dc_u;
INSERT INTO dc_s VALUES (11, 1, 1);
SELECT pgtrickle.refresh_stream_table(name) FROM dc_shapes ORDER BY name;
SELECT * FROM dc_check();
SELECT * FROM dc_empty_count ORDER BY id;

-- AUTO keeps a rewritten query DIFFERENTIAL (no recompute), and refreshes FULL one that keeps
-- a recompute.
SELECT pgtrickle.create_stream_table('dc_auto', 'SELECT t.id FROM dc_t t WHERE t.v < (SELECT avg(u.w) FROM dc_u u WHERE u.k = t.k)');
SELECT pgtrickle.create_stream_table('dc_auto_keep', 'SELECT t.id FROM dc_t t WHERE t.v >= (SELECT count(*) FROM dc_u u WHERE u.k = t.k)');
INSERT INTO dc_u VALUES (50, 1, 1, 100);
SELECT pgtrickle.refresh_stream_table('dc_auto');
SELECT pgtrickle.refresh_stream_table('dc_auto_keep');
SELECT t.pgt_name, h.action
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
WHERE t.pgt_name IN ('dc_auto', 'dc_auto_keep') AND h.initiated_by <> 'INITIAL'
ORDER BY t.pgt_name, h.refresh_id;

SELECT pgtrickle.drop_stream_table(name) FROM dc_shapes ORDER BY name;
SELECT pgtrickle.drop_stream_table('dc_auto');
SELECT pgtrickle.drop_stream_table('dc_auto_keep');
DROP FUNCTION dc_check();
DROP FUNCTION dc_rows(text);
DROP FUNCTION dc_diff(text, text);
DROP TABLE dc_shapes, dc_t, dc_u, dc_s;
