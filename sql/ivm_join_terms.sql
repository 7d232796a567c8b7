-- The join delta by the set of sources that changed in the refresh (src/ivm/op_join.cpp): up to
-- four changed scans, one signed term per non-empty subset of them (no old state read); more,
-- the telescoping sum over old states. Sources without pending changes are quiet: their buffer
-- is not read. A grouped input joined on its key is read, in a term where only the other side
-- changed, for the keys of that change (semi-join reduction: its change set is read twice).
-- Each round changes one more source of a five-table join, with duplicates, NULL join keys, key
-- updates and numeric scale changes, and compares by identity (row text).
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE jt_a (id int, k int, v numeric);
CREATE TABLE jt_b (k int, m int, w text);
CREATE TABLE jt_c (m int, n int);
CREATE TABLE jt_d (n int, p int, x numeric);
CREATE TABLE jt_e (p int, label text);
INSERT INTO jt_a SELECT g, g % 7, g * 1.5 FROM generate_series(1, 40) g;
INSERT INTO jt_a VALUES (41, 3, 4.5), (41, 3, 4.5), (42, NULL, 1);
INSERT INTO jt_b SELECT g % 7, g % 5, 'b' || g FROM generate_series(1, 14) g;
INSERT INTO jt_c SELECT g % 5, g % 4 FROM generate_series(1, 8) g;
INSERT INTO jt_c VALUES (NULL, 1);
INSERT INTO jt_d SELECT g % 4, g % 3, g FROM generate_series(1, 6) g;
INSERT INTO jt_e VALUES (0, 'zero'), (1, 'one'), (2, 'two'), (2, 'two');

CREATE TABLE jt_shapes (name text PRIMARY KEY, query text);
INSERT INTO jt_shapes VALUES
 ('jt_chain', 'SELECT a.id, a.v, b.w, c.n, d.x, e.label FROM jt_a a JOIN jt_b b ON b.k = a.k JOIN jt_c c ON c.m = b.m JOIN jt_d d ON d.n = c.n JOIN jt_e e ON e.p = d.p'),
 ('jt_sum', 'SELECT e.label, count(*) AS n, sum(a.v) AS total FROM jt_a a JOIN jt_b b ON b.k = a.k JOIN jt_c c ON c.m = b.m JOIN jt_d d ON d.n = c.n JOIN jt_e e ON e.p = d.p GROUP BY e.label'),
 ('jt_scalar', 'SELECT a.id, a.v FROM jt_a a JOIN jt_b b ON b.k = a.k WHERE a.v > (SELECT avg(x) FROM jt_d)'),
 ('jt_agg_join', 'SELECT a.id, a.k, s.n, s.ws FROM jt_a a JOIN (SELECT k, count(*) AS n, string_agg(w, '','' ORDER BY w) AS ws FROM jt_b GROUP BY k) s ON s.k = a.k');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM jt_shapes ORDER BY name;

CREATE FUNCTION jt_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((SELECT r0::text FROM (TABLE %s) r0) EXCEPT ALL '
	               '(SELECT r1::text FROM (%s) r1)) a) + (SELECT count(*) FROM ((SELECT r1::text '
	               'FROM (%s) r1) EXCEPT ALL (SELECT r0::text FROM (TABLE %s) r0)) b)', st, q, q, st)
	INTO n;
	RETURN n;
END $$;
CREATE FUNCTION jt_count(st text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', st) INTO n;
	RETURN n;
END $$;
CREATE TABLE jt_log (round int, name text, stored bigint, differences bigint, action text);
CREATE FUNCTION jt_round(r int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pgtrickle.refresh_stream_table(name) FROM jt_shapes ORDER BY name;
	INSERT INTO jt_log
	SELECT r, s.name, jt_count(s.name), jt_diff(s.name, s.query),
	       (SELECT h.action FROM pgtrickle.pgt_refresh_history h
	        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
	        WHERE t.pgt_name = s.name ORDER BY h.refresh_id DESC LIMIT 1)
	FROM jt_shapes s;
END $$;

-- Which buffers a delta reads: only the changed sources' (one change set for jt_a here).
UPDATE jt_a SET v = 3.00 WHERE id = 2;
SELECT s.name, (length(e.value) - length(replace(e.value, '_pending_changes(', '')))
               / length('_pending_changes(') AS change_sets_read
FROM jt_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property = 'delta_sql' ORDER BY s.name;
SELECT jt_round(1);
-- Two sources: three terms (ΔA B, A ΔB, −ΔA ΔB); ΔA and ΔB join each other.
UPDATE jt_a SET k = 4 WHERE id IN (3, 10);
INSERT INTO jt_b VALUES (4, 1, 'new'), (3, 2, 'b3');
DELETE FROM jt_b WHERE w = 'b10';
SELECT jt_round(2);
-- Three: seven terms.
INSERT INTO jt_a VALUES (43, 5, 7.50), (43, 5, 7.50);
UPDATE jt_b SET m = 3 WHERE k = 5;
UPDATE jt_c SET n = 2 WHERE m = 3;
INSERT INTO jt_c VALUES (3, 0);
SELECT jt_round(3);
-- Four: fifteen terms; jt_d also feeds the scalar subquery of jt_scalar.
DELETE FROM jt_a WHERE id % 9 = 0;
UPDATE jt_b SET k = NULL WHERE w = 'b2';
DELETE FROM jt_c WHERE m IS NULL;
UPDATE jt_d SET x = x * 10, p = (p + 1) % 3 WHERE n = 1;
SELECT jt_round(4);
-- All five: the telescoping sum (old states of the later inputs).
UPDATE jt_a SET v = v + 0.10 WHERE id % 4 = 0;
INSERT INTO jt_b VALUES (6, 4, 'b6x');
INSERT INTO jt_c VALUES (4, 3);
INSERT INTO jt_d VALUES (3, 1, 2.0);
UPDATE jt_e SET label = 'ONE' WHERE p = 1;
DELETE FROM jt_e WHERE p = 0;
SELECT jt_round(5);
-- Changes that cancel out, on every source at once.
UPDATE jt_a SET v = v + 1 WHERE id = 1;
UPDATE jt_a SET v = v - 1 WHERE id = 1;
INSERT INTO jt_b VALUES (9, 9, 'gone');
DELETE FROM jt_b WHERE k = 9;
UPDATE jt_e SET label = label;
SELECT jt_round(6);

SELECT round, name, stored, differences, action FROM jt_log ORDER BY round, name;

SELECT pgtrickle.drop_stream_table(name) FROM jt_shapes ORDER BY name;
DROP TABLE jt_a, jt_b, jt_c, jt_d, jt_e, jt_shapes, jt_log;
DROP FUNCTION jt_diff(text, text);
DROP FUNCTION jt_count(text);
DROP FUNCTION jt_round(int);
