-- WITH RECURSIVE in DIFFERENTIAL (src/ivm/op_recursive.cpp): the recursion is recomputed (new and
-- old) when one of its tables changed; the levels above it stay incremental.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE ir_emp (id int, boss int, name text);
CREATE TABLE ir_edge (a int, b int);
INSERT INTO ir_emp VALUES (1, NULL, 'ceo'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'c'), (5, 4, 'd'),
 (6, 3, 'e'), (10, NULL, 'other'), (11, 10, 'f');
INSERT INTO ir_edge VALUES (1, 2), (2, 3), (3, 1), (3, 4), (5, 6);

CREATE TABLE ir_shapes (name text PRIMARY KEY, query text);
INSERT INTO ir_shapes VALUES
 ('ir_chain', 'WITH RECURSIVE chain(id, root, depth) AS (SELECT id, id, 0 FROM ir_emp WHERE boss IS NULL UNION ALL SELECT e.id, c.root, c.depth + 1 FROM ir_emp e JOIN chain c ON e.boss = c.id) SELECT * FROM chain'),
 ('ir_reach', 'WITH RECURSIVE reach(a, b) AS (SELECT a, b FROM ir_edge UNION SELECT r.a, e.b FROM reach r JOIN ir_edge e ON e.a = r.b) SELECT * FROM reach'),
 ('ir_reach_counts', 'WITH RECURSIVE reach(a, b) AS (SELECT a, b FROM ir_edge UNION SELECT r.a, e.b FROM reach r JOIN ir_edge e ON e.a = r.b) SELECT a, count(*) AS n FROM reach GROUP BY a'),
 ('ir_subtree_join', 'WITH RECURSIVE sub(id) AS (SELECT id FROM ir_emp WHERE id = 2 UNION ALL SELECT e.id FROM ir_emp e JOIN sub s ON e.boss = s.id) SELECT s.id, e.name FROM sub s JOIN ir_emp e USING (id)'),
 ('ir_cycle_clause', 'WITH RECURSIVE walk(a, b) AS (SELECT a, b FROM ir_edge WHERE a = 1 UNION ALL SELECT e.a, e.b FROM walk w JOIN ir_edge e ON e.a = w.b) CYCLE a SET looped USING path SELECT a, b, looped FROM walk'),
 ('ir_in_sublink', 'SELECT id, name FROM ir_emp WHERE id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM ir_emp WHERE id = 3 UNION SELECT e.id FROM ir_emp e JOIN sub s ON e.boss = s.id) SELECT id FROM sub)'),
 ('ir_window_over', 'WITH RECURSIVE chain(id, root, depth) AS (SELECT id, id, 0 FROM ir_emp WHERE boss IS NULL UNION ALL SELECT e.id, c.root, c.depth + 1 FROM ir_emp e JOIN chain c ON e.boss = c.id) SELECT root, id, rank() OVER (PARTITION BY root ORDER BY depth) AS r FROM chain');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM ir_shapes ORDER BY name;
SELECT s.name, e.property, e.value
FROM ir_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property IN ('differential_support', 'differential_operators')
ORDER BY s.name, e.property;

-- Inserts that extend the recursion, a moved subtree, a deleted root, a new cycle.
INSERT INTO ir_emp VALUES (7, 5, 'g'), (8, 7, 'h');
UPDATE ir_emp SET boss = 3 WHERE id = 4;
DELETE FROM ir_emp WHERE id = 10;
INSERT INTO ir_edge VALUES (4, 5), (6, 5);
DELETE FROM ir_edge WHERE a = 2;
SELECT pgtrickle.refresh_stream_table(name) FROM ir_shapes ORDER BY name;
CREATE FUNCTION ir_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((TABLE %s) EXCEPT ALL (%s)) a) + '
	               '(SELECT count(*) FROM ((%s) EXCEPT ALL (TABLE %s)) b)', st, q, q, st) INTO n;
	RETURN n;
END $$;
SELECT s.name, ir_diff(s.name, s.query) AS differences,
       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id) FROM pgtrickle.pgt_refresh_history h
        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL') AS actions
FROM ir_shapes s ORDER BY s.name;
SELECT * FROM ir_chain ORDER BY root, depth, id;

-- AUTO refreshes a recursion FULL (it is evaluated over the new and the old contents of its
-- tables, costlier than a FULL refresh); explicit DIFFERENTIAL keeps it (above).
SELECT pgtrickle.create_stream_table('ir_auto', 'WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM ir_emp WHERE boss IS NULL UNION ALL SELECT e.id, c.depth + 1 FROM ir_emp e JOIN chain c ON e.boss = c.id) SELECT * FROM chain', refresh_mode => 'AUTO');
INSERT INTO ir_emp (id, boss) VALUES (9001, NULL);
SELECT pgtrickle.refresh_stream_table('ir_auto');
SELECT h.action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
WHERE t.pgt_name = 'ir_auto' AND h.initiated_by <> 'INITIAL' ORDER BY h.refresh_id;
SELECT value FROM pgtrickle.explain_st('ir_auto') WHERE property = 'effective_mode';
SELECT ir_diff('ir_auto', 'WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM ir_emp WHERE boss IS NULL UNION ALL SELECT e.id, c.depth + 1 FROM ir_emp e JOIN chain c ON e.boss = c.id) SELECT * FROM chain') AS differences;
SELECT pgtrickle.drop_stream_table('ir_auto');

-- Refused in DIFFERENTIAL: a recursion without a source table.
SELECT pgtrickle.create_stream_table('ir_no', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE

SELECT pgtrickle.drop_stream_table(name) FROM ir_shapes ORDER BY name;
DROP FUNCTION ir_diff(text, text);
DROP TABLE ir_shapes, ir_emp, ir_edge;
