-- The operator engine of DIFFERENTIAL (src/ivm): each operator accepted alone and composed, its
-- tree in explain_st, its refreshes DIFFERENTIAL and equal to the query; the refused constructs.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE io_c (id int PRIMARY KEY, region text, seg int);
CREATE TABLE io_o (oid int, cid int, amount numeric, status text);
CREATE TABLE io_r (region text, label text);
INSERT INTO io_c SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' WHEN g % 3 = 1 THEN 'us' END, g % 4
FROM generate_series(1, 12) g;
INSERT INTO io_o SELECT g, g % 10, g * 1.50, CASE WHEN g % 2 = 0 THEN 'open' ELSE 'done' END
FROM generate_series(1, 30) g;
INSERT INTO io_r VALUES ('eu', 'Europe'), ('us', 'America'), ('as', 'Asia');

CREATE TABLE io_shapes (name text PRIMARY KEY, query text);
INSERT INTO io_shapes VALUES
 ('io_left', 'SELECT c.id, o.oid, o.amount FROM io_c c LEFT JOIN io_o o ON o.cid = c.id'),
 ('io_full', 'SELECT c.region, r.label FROM io_c c FULL JOIN io_r r ON r.region = c.region'),
 ('io_exists', 'SELECT c.id FROM io_c c WHERE EXISTS (SELECT 1 FROM io_o o WHERE o.cid = c.id AND o.status = ''open'')'),
 ('io_anti', 'SELECT r.region, r.label FROM io_r r WHERE NOT EXISTS (SELECT 1 FROM io_c c WHERE c.region = r.region)'),
 ('io_in', 'SELECT oid, amount FROM io_o WHERE cid IN (SELECT id FROM io_c WHERE seg = 1)'),
 ('io_not_in', 'SELECT c.id FROM io_c c WHERE c.seg NOT IN (SELECT cid FROM io_o WHERE amount > 40)'),
 ('io_scalar', 'SELECT oid, amount FROM io_o WHERE amount > (SELECT avg(amount) FROM io_o)'),
 ('io_total', 'SELECT count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM io_o'),
 ('io_empty_total', 'SELECT count(*) AS n, sum(amount) AS total FROM io_o WHERE amount > 1000'),
 ('io_filter_agg', 'SELECT cid, count(*) FILTER (WHERE status = ''open'') AS open_orders, count(DISTINCT status) AS statuses, string_agg(oid::text, '','' ORDER BY oid) AS oids FROM io_o GROUP BY cid'),
 ('io_agg_join', 'SELECT c.region, t.total FROM io_c c JOIN (SELECT cid, sum(amount) AS total FROM io_o GROUP BY cid) t ON t.cid = c.id'),
 ('io_agg_agg', 'SELECT n, count(*) AS customers FROM (SELECT cid, count(*) AS n FROM io_o GROUP BY cid) x GROUP BY n'),
 ('io_distinct_sub', 'SELECT count(*) AS regions FROM (SELECT DISTINCT region FROM io_c) d'),
 ('io_union', 'SELECT region FROM io_c UNION SELECT region FROM io_r'),
 ('io_intersect', 'SELECT region FROM io_c INTERSECT ALL SELECT region FROM io_r'),
 ('io_except', 'SELECT cid FROM io_o EXCEPT SELECT id FROM io_c WHERE seg = 0'),
 ('io_union_all_sub', 'SELECT u.x, count(*) AS n FROM (SELECT seg AS x FROM io_c UNION ALL SELECT cid FROM io_o) u GROUP BY u.x'),
 ('io_pk_group', 'SELECT region, sum(n) AS n FROM (SELECT c.id, c.region, count(*) AS n FROM io_c c JOIN io_o o ON o.cid = c.id GROUP BY c.id) x GROUP BY region'),
 ('io_count', 'SELECT count(*) AS n FROM io_o JOIN io_c ON io_c.id = io_o.cid'),
 ('io_topk', 'SELECT oid, amount FROM io_o ORDER BY amount DESC, oid LIMIT 3'),
 ('io_cte_twice', 'WITH t AS (SELECT cid, sum(amount) AS total FROM io_o GROUP BY cid) SELECT a.cid, a.total, b.total AS next_total FROM t a JOIN t b ON b.cid = a.cid + 1');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM io_shapes ORDER BY name;
SELECT s.name, e.property, e.value
FROM io_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property IN ('differential_support', 'differential_operators')
ORDER BY s.name, e.property;

-- Changes on every table, NULL-producing sides included, then one DIFFERENTIAL refresh each.
INSERT INTO io_o VALUES (31, 11, 99.99, 'open'), (32, NULL, 5, 'done'), (33, 3, 2000, 'open');
UPDATE io_o SET cid = 12 WHERE oid IN (1, 2);
DELETE FROM io_o WHERE cid = 5;
UPDATE io_c SET region = 'as' WHERE id = 4;
DELETE FROM io_c WHERE id = 9;
INSERT INTO io_c VALUES (13, NULL, 1);
DELETE FROM io_r WHERE region = 'us';
INSERT INTO io_r VALUES ('eu', 'Europa');
SELECT pgtrickle.refresh_stream_table(name) FROM io_shapes ORDER BY name;
CREATE FUNCTION io_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((TABLE %s) EXCEPT ALL (%s)) a) + '
	               '(SELECT count(*) FROM ((%s) EXCEPT ALL (TABLE %s)) b)', st, q, q, st) INTO n;
	RETURN n;
END $$;
SELECT s.name, io_diff(s.name, s.query) AS differences,
       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id) FROM pgtrickle.pgt_refresh_history h
        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL') AS actions
FROM io_shapes s ORDER BY s.name;
SELECT * FROM io_total;
SELECT * FROM io_empty_total;

-- Still refused in DIFFERENTIAL (0A000 naming the construct).
SELECT pgtrickle.create_stream_table('io_no', 'SELECT oid FROM io_o LIMIT 3', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('io_no', 'SELECT id, generate_series(1, seg) AS g FROM io_c', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('io_no', 'SELECT DISTINCT count(*) AS n FROM io_o GROUP BY cid', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
-- AUTO refreshes them FULL and says why.
SELECT pgtrickle.create_stream_table('io_auto', 'SELECT oid FROM io_o LIMIT 3');
SELECT property, value FROM pgtrickle.explain_st('io_auto')
WHERE property IN ('effective_mode', 'differential_support');

SELECT pgtrickle.drop_stream_table(name) FROM io_shapes ORDER BY name;
SELECT pgtrickle.drop_stream_table('io_auto');
DROP FUNCTION io_diff(text, text);
DROP TABLE io_shapes, io_c, io_o, io_r;
