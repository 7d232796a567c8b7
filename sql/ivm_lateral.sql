-- LATERAL in DIFFERENTIAL (src/ivm/op_lateral.cpp): set-returning functions and VALUES over a
-- source row, LATERAL subqueries inner and LEFT, top-K per row.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE il_g (id int, arr int[], j jsonb, s text, k int);
CREATE TABLE il_i (gid int, x int, name text);
INSERT INTO il_g SELECT g, ARRAY[g, g + 1, NULL], jsonb_build_array(g, 'a', jsonb_build_object('z', g)),
       'a' || g || 'b' || g * 2, g % 3
FROM generate_series(1, 6) g;
INSERT INTO il_g VALUES (7, NULL, NULL, NULL, NULL), (8, '{}', '[]', '', 0);
INSERT INTO il_i SELECT g % 7, g, 'n' || g FROM generate_series(1, 40) g;

CREATE TABLE il_shapes (name text PRIMARY KEY, query text);
INSERT INTO il_shapes VALUES
 ('il_unnest', 'SELECT g.id, u.v, u.o FROM il_g g, unnest(g.arr) WITH ORDINALITY u(v, o)'),
 ('il_series', 'SELECT g.id, n FROM il_g g CROSS JOIN LATERAL generate_series(1, g.k) n'),
 ('il_jsonb_elems', 'SELECT g.id, e.value FROM il_g g, jsonb_array_elements(g.j) e WHERE e.value <> ''"a"'''),
 ('il_jsonb_each_left', 'SELECT g.id, e.key, e.value FROM il_g g LEFT JOIN LATERAL jsonb_each(g.j -> 2) e ON true'),
 ('il_regexp', 'SELECT g.id, m FROM il_g g, regexp_matches(g.s, ''[0-9]+'', ''g'') m'),
 ('il_values', 'SELECT g.id, v.tag, v.val FROM il_g g, LATERAL (VALUES (''id'', g.id), (''k'', g.k)) v(tag, val)'),
 ('il_topk', 'SELECT g.id, t.x, t.name FROM il_g g CROSS JOIN LATERAL (SELECT i.x, i.name FROM il_i i WHERE i.gid = g.id ORDER BY i.x DESC, i.name LIMIT 2) t'),
 ('il_left_agg', 'SELECT g.id, t.n, t.mx FROM il_g g LEFT JOIN LATERAL (SELECT count(*) AS n, max(x) AS mx FROM il_i i WHERE i.gid = g.k) t ON true'),
 ('il_uncorrelated_key', 'SELECT g.id, t.x FROM il_g g, LATERAL (SELECT i.x FROM il_i i JOIN il_g g2 ON g2.id = i.gid WHERE i.x > g.id * 5) t'),
 ('il_agg_over', 'SELECT g.k, count(*) AS n, sum(v) AS s FROM il_g g, unnest(g.arr) v GROUP BY g.k');
SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'DIFFERENTIAL')
FROM il_shapes ORDER BY name;
SELECT s.name, e.property, e.value
FROM il_shapes s, pgtrickle.explain_st(s.name) e
WHERE e.property IN ('differential_support', 'differential_operators')
ORDER BY s.name, e.property;

INSERT INTO il_g VALUES (9, ARRAY[1, 1], '[1, {"q": 2}, {"a": 1, "b": null}]', 'x1y22', 2);
UPDATE il_g SET arr = arr || 9, s = s || '7', k = 2 WHERE id = 2;
DELETE FROM il_g WHERE id = 3;
INSERT INTO il_i VALUES (1, 100, 'big'), (2, 0, 'small'), (NULL, 5, 'null');
DELETE FROM il_i WHERE x = 8 OR gid = 4;
UPDATE il_i SET x = x + 50 WHERE x = 15;
SELECT pgtrickle.refresh_stream_table(name) FROM il_shapes ORDER BY name;
CREATE FUNCTION il_diff(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT (SELECT count(*) FROM ((TABLE %s) EXCEPT ALL (%s)) a) + '
	               '(SELECT count(*) FROM ((%s) EXCEPT ALL (TABLE %s)) b)', st, q, q, st) INTO n;
	RETURN n;
END $$;
SELECT s.name, il_diff(s.name, s.query) AS differences,
       (SELECT string_agg(h.action, ', ' ORDER BY h.refresh_id) FROM pgtrickle.pgt_refresh_history h
        JOIN pgtrickle.pgt_stream_tables t USING (pgt_id)
        WHERE t.pgt_name = s.name AND h.initiated_by <> 'INITIAL') AS actions
FROM il_shapes s ORDER BY s.name;
SELECT * FROM il_topk ORDER BY id, x DESC;

-- Refused in DIFFERENTIAL (0A000 naming the construct).
SELECT pgtrickle.create_stream_table('il_no', 'SELECT g.id, t.name FROM il_g g, LATERAL (SELECT i.name FROM il_i i WHERE i.gid = g.id ORDER BY i.x LIMIT 1) t', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('il_no', 'SELECT g.id, t FROM il_g g, generate_series(now(), now() + interval ''1 day'', interval ''1 hour'') t', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('il_no', 'SELECT g.id, t.x FROM il_g g, LATERAL (SELECT i.x FROM il_i i WHERE i.gid = g.id LIMIT 1) t', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE

SELECT pgtrickle.drop_stream_table(name) FROM il_shapes ORDER BY name;
DROP FUNCTION il_diff(text, text);
DROP TABLE il_shapes, il_g, il_i;
