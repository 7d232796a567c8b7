-- group_convergence: a grouped (or DISTINCT, or joined) stream table at the convergence point of
-- a consistency group whose branches all change in one group refresh. Every statement of a
-- refresh reads the sources as written by the members refreshed before it in the same unit
-- (issue 8, item 11: the affected groups were computed on a read-only snapshot that did not see
-- the upstream members' writes, and the new group was lost).
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL

CREATE TABLE gc_r (id int PRIMARY KEY, val int, grp text);
INSERT INTO gc_r VALUES (1, 1, 'x');
SELECT pgtrickle.create_stream_table('gc_a', 'SELECT id, val AS va, grp FROM gc_r', '1h',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('gc_b', 'SELECT id, val * 2 AS vb, grp FROM gc_r', '1h',
                                     'DIFFERENTIAL');
-- Grouped convergence node (the issue's example).
SELECT pgtrickle.create_stream_table('gc_tip_group',
  'SELECT a.grp, count(*) AS n, sum(b.vb) AS s FROM gc_a a JOIN gc_b b ON a.id = b.id GROUP BY a.grp',
  '1h', 'DIFFERENTIAL');
-- DISTINCT convergence node.
SELECT pgtrickle.create_stream_table('gc_tip_distinct',
  'SELECT DISTINCT a.grp, b.vb > 2 AS big FROM gc_a a JOIN gc_b b ON a.id = b.id', '1h',
  'DIFFERENTIAL');
-- Plain join convergence node.
SELECT pgtrickle.create_stream_table('gc_tip_join',
  'SELECT a.id, a.grp, a.va, b.vb FROM gc_a a JOIN gc_b b ON a.id = b.id', '1h', 'DIFFERENTIAL');
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'gc\_%'
ORDER BY pgt_id;

-- Both branches change in the same group refresh.
INSERT INTO gc_r VALUES (2, 2, 'y');
SELECT pgtrickle.refresh_stream_table('gc_a');   -- refreshes the whole group
SELECT * FROM gc_tip_group ORDER BY grp;
SELECT * FROM gc_tip_distinct ORDER BY grp, big;
SELECT * FROM gc_tip_join ORDER BY id;
-- Updates and deletes, a new group and a vanishing one.
UPDATE gc_r SET grp = 'z', val = 5 WHERE id = 1;
INSERT INTO gc_r VALUES (3, 3, 'y');
SELECT pgtrickle.refresh_stream_table('gc_b');
SELECT * FROM gc_tip_group ORDER BY grp;
SELECT * FROM gc_tip_distinct ORDER BY grp, big;
SELECT * FROM gc_tip_join ORDER BY id;
DELETE FROM gc_r WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('gc_tip_group');
SELECT * FROM gc_tip_group ORDER BY grp;
SELECT * FROM gc_tip_distinct ORDER BY grp, big;
SELECT * FROM gc_tip_join ORDER BY id;
-- Every refresh above was DIFFERENTIAL, and each tip equals its query.
SELECT s.pgt_name, array_agg(DISTINCT h.action) AS actions
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name LIKE 'gc\_%' AND h.initiated_by = 'MANUAL' GROUP BY s.pgt_name ORDER BY 1;
SELECT (SELECT array_agg(t::text ORDER BY t::text) FROM gc_tip_group t) =
       (SELECT array_agg(q::text ORDER BY q::text) FROM (
            SELECT a.grp, count(*) AS n, sum(b.vb) AS s FROM gc_a a JOIN gc_b b ON a.id = b.id
            GROUP BY a.grp) q) AS group_ok,
       (SELECT array_agg(t::text ORDER BY t::text) FROM gc_tip_distinct t) =
       (SELECT array_agg(q::text ORDER BY q::text) FROM (
            SELECT DISTINCT a.grp, b.vb > 2 AS big FROM gc_a a JOIN gc_b b ON a.id = b.id) q)
           AS distinct_ok;

-- Clean up.
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'gc\_%' ORDER BY pgt_id DESC;
DROP TABLE gc_r;
RESET client_min_messages;
RESET pg_trickle.differential_max_change_ratio;
