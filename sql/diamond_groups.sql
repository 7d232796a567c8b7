-- diamond_groups: diamond detection, consistency groups, their policy and epoch, built from real
-- stream tables (SPEC §6, §5). All stream tables are FULL: the grouping does not depend on it.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE dg_t (id int PRIMARY KEY, v int);
INSERT INTO dg_t VALUES (1, 10), (2, 20);
CREATE TABLE dg_u (id int PRIMARY KEY, w int);
INSERT INTO dg_u VALUES (1, 100), (2, 200);

-- diamond_groups() in the order it returns its rows.
CREATE TEMP VIEW dg AS
SELECT g.group_id, g.member_name, g.member_schema, g.is_convergence, g.epoch, g.schedule_policy
FROM pgtrickle.diamond_groups() WITH ORDINALITY g ORDER BY g.ordinality;
-- Creates a stream table in FULL mode with the default schedule.
CREATE FUNCTION pg_temp.st(name text, query text) RETURNS void LANGUAGE sql
AS $$ SELECT pgtrickle.create_stream_table(name, query, refresh_mode => 'FULL') $$;
-- Drops every stream table (readers first).
CREATE FUNCTION pg_temp.drop_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT quote_ident(pgt_schema) || '.' || quote_ident(pgt_name) AS n
             FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id DESC LOOP
        PERFORM pgtrickle.drop_stream_table(r.n);
    END LOOP;
END $$;
SET client_min_messages = warning;  -- drop_all() is not what this test is about

-- No stream tables, no groups.
SELECT * FROM dg;

-------------------------------------------------------------------------------
-- Simple diamond: dg_t -> b, c -> d
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_b', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_c', 'SELECT id, v * 2 AS v2 FROM dg_t');
-- Two readers of one base table are not a diamond yet.
SELECT * FROM dg;
SELECT pg_temp.st('dg_d', 'SELECT b.id, b.v, c.v2 FROM dg_b b JOIN dg_c c USING (id)');
SELECT * FROM dg;
SELECT * FROM dg_d ORDER BY id;

-- The epoch starts at 0 and counts committed refreshes of the group. Refreshing any member
-- of an atomic group refreshes the whole group on one snapshot.
UPDATE dg_t SET v = 11 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('dg_b');
SELECT * FROM dg_d ORDER BY id;
SELECT * FROM dg;
SELECT s.pgt_name, h.action, h.status, h.initiated_by, h.group_id, h.group_epoch
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE h.initiated_by = 'MANUAL' ORDER BY h.refresh_id;
SELECT pgtrickle.refresh_stream_table('dg_d');
SELECT DISTINCT epoch FROM dg;
SELECT pgtrickle.refresh_stream_table('dg_c');
SELECT DISTINCT epoch FROM dg;
-- A rolled-back group refresh does not count.
BEGIN;
SELECT pgtrickle.refresh_stream_table('dg_c');
SELECT DISTINCT epoch FROM dg;
ROLLBACK;
SELECT DISTINCT epoch FROM dg;

-- Policy: only convergence points count; strictest wins.
SELECT pgtrickle.alter_stream_table('dg_b', diamond_schedule_policy => 'slowest');
SELECT member_name, is_convergence, schedule_policy FROM dg;
SELECT pgtrickle.alter_stream_table('dg_d', diamond_schedule_policy => 'slowest');
SELECT member_name, is_convergence, schedule_policy FROM dg;
SELECT pgtrickle.alter_stream_table('dg_b', diamond_schedule_policy => 'fastest');
SELECT member_name, is_convergence, schedule_policy FROM dg;
SELECT pgtrickle.alter_stream_table('dg_d', diamond_schedule_policy => 'fastest');
SELECT member_name, is_convergence, schedule_policy FROM dg;

-- A SUSPENDED member is still listed under its real name; the group is held: refreshing another
-- member is refused rather than splitting the convergence point.
SELECT pgtrickle.alter_stream_table('dg_c', status => 'SUSPENDED');
SELECT * FROM dg;
UPDATE dg_t SET v = 12 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('dg_b');
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('dg_d');
\echo :SQLSTATE
SELECT * FROM dg_d ORDER BY id;
SELECT check_name, severity, detail FROM pgtrickle.health_check() WHERE check_name = 'held_groups';
SELECT pgtrickle.resume_stream_table('dg_c');
SELECT pgtrickle.refresh_stream_table('dg_b');
SELECT * FROM dg_d ORDER BY id;
SELECT DISTINCT epoch FROM dg;

-- diamond_consistency none: the group is still listed, but its members refresh one by one and
-- the epoch does not move.
SELECT pgtrickle.alter_stream_table('dg_c', diamond_consistency => 'none');
SELECT * FROM dg;
UPDATE dg_t SET v = 13 WHERE id = 1;
CREATE TEMP TABLE dg_mark AS SELECT max(refresh_id) AS last FROM pgtrickle.pgt_refresh_history;
SELECT pgtrickle.refresh_stream_table('dg_b');
SELECT s.pgt_name, h.action, h.group_epoch
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id), dg_mark m
WHERE h.refresh_id > m.last ORDER BY h.refresh_id;
SELECT * FROM dg_b ORDER BY id;
SELECT * FROM dg_d ORDER BY id;
SELECT DISTINCT epoch FROM dg;
DROP TABLE dg_mark;
SELECT pgtrickle.alter_stream_table('dg_c', diamond_consistency => 'atomic');

-- Dropping the convergence point dissolves the group.
SELECT pgtrickle.drop_stream_table('dg_d');
SELECT * FROM dg;
-- Making a diamond with alter_stream_table forms the group again.
SELECT pg_temp.st('dg_d', 'SELECT id, v FROM dg_b');
SELECT * FROM dg;
SELECT pgtrickle.alter_stream_table('dg_d',
    query => 'SELECT b.id, b.v, c.v2 FROM dg_b b JOIN dg_c c USING (id)');
SELECT group_id, member_name, member_schema, is_convergence, schedule_policy FROM dg;
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- Defaults come from the GUCs at creation time
-------------------------------------------------------------------------------
SET pg_trickle.diamond_schedule_policy = 'slowest';
SELECT pg_temp.st('dg_b', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_c', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_d', 'SELECT b.id FROM dg_b b JOIN dg_c c USING (id)');
RESET pg_trickle.diamond_schedule_policy;
SET pg_trickle.diamond_consistency = 'none';
SELECT pg_temp.st('dg_e', 'SELECT id FROM dg_d');
RESET pg_trickle.diamond_consistency;
SELECT pgt_name, diamond_consistency, diamond_schedule_policy FROM pgtrickle.pgt_stream_tables
ORDER BY pgt_name;
SELECT * FROM dg;
-- Explicit arguments win over the GUCs.
SET pg_trickle.diamond_schedule_policy = 'slowest';
SET pg_trickle.diamond_consistency = 'none';
SELECT pgtrickle.create_stream_table('dg_f', 'SELECT id FROM dg_t', refresh_mode => 'FULL',
    diamond_consistency => 'atomic', diamond_schedule_policy => 'fastest');
RESET pg_trickle.diamond_schedule_policy;
RESET pg_trickle.diamond_consistency;
SELECT pgt_name, diamond_consistency, diamond_schedule_policy FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'dg_f';
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- Three branches
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_b1', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_b2', 'SELECT id, v + 1 AS v FROM dg_t');
SELECT pg_temp.st('dg_b3', 'SELECT id, v + 2 AS v FROM dg_t');
SELECT pg_temp.st('dg_d',
    'SELECT id, b1.v AS v1, b2.v AS v2, b3.v AS v3
     FROM dg_b1 b1 JOIN dg_b2 b2 USING (id) JOIN dg_b3 b3 USING (id)');
SELECT * FROM dg;
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- Deep branch: dg_t -> b -> b2 -> d and dg_t -> c -> d
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_b', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_b2', 'SELECT id, v FROM dg_b');
SELECT pg_temp.st('dg_c', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_d', 'SELECT b2.id FROM dg_b2 b2 JOIN dg_c c USING (id)');
SELECT * FROM dg;
-- A reader of the convergence point is not a member.
SELECT pg_temp.st('dg_after', 'SELECT id FROM dg_d');
SELECT * FROM dg;
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- Shared stream-table root: dg_t -> r -> g1, g2 -> h (r is a shared ancestor, not a member)
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_r', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_g1', 'SELECT id, v FROM dg_r');
SELECT pg_temp.st('dg_g2', 'SELECT id, v * 2 AS v FROM dg_r');
SELECT pg_temp.st('dg_h', 'SELECT g1.id FROM dg_g1 g1 JOIN dg_g2 g2 USING (id)');
SELECT * FROM dg;
-- Refreshing the root alone is a singleton refresh: the group's epoch does not move.
SELECT pgtrickle.refresh_stream_table('dg_r');
SELECT DISTINCT epoch FROM dg;
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- A base table read directly and through a stream table: dg_t -> m -> k and dg_t -> k
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_m', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_k', 'SELECT t.id, m.v FROM dg_t t JOIN dg_m m USING (id)');
SELECT * FROM dg;
UPDATE dg_t SET v = 99 WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('dg_k');
SELECT * FROM dg_k ORDER BY id;
SELECT DISTINCT epoch FROM dg;
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- A base table read directly and through a view is the same base table: dg_pq combines
-- dg_t as seen by dg_p with dg_t as seen by dg_q, exactly like a diamond of stream tables.
-------------------------------------------------------------------------------
CREATE VIEW dg_view AS SELECT id, v FROM dg_t WHERE v > 0;
SELECT pg_temp.st('dg_p', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_q', 'SELECT id, v FROM dg_view');
SELECT pg_temp.st('dg_pq', 'SELECT p.id FROM dg_p p JOIN dg_q q USING (id)');
SELECT * FROM dg;
SELECT pg_temp.drop_all();
DROP VIEW dg_view;

-------------------------------------------------------------------------------
-- Two independent diamonds: two groups, numbered in topological order
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_ub', 'SELECT id, w FROM dg_u');
SELECT pg_temp.st('dg_tb', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_tc', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_uc', 'SELECT id, w FROM dg_u');
SELECT pg_temp.st('dg_td', 'SELECT b.id FROM dg_tb b JOIN dg_tc c USING (id)');
SELECT pg_temp.st('dg_ud', 'SELECT b.id FROM dg_ub b JOIN dg_uc c USING (id)');
SELECT * FROM dg;
-- Refreshing a member of one group leaves the other alone.
SELECT pgtrickle.refresh_stream_table('dg_td');
SELECT group_id, member_name, epoch FROM dg;
SELECT tree_line, group_id FROM pgtrickle.dependency_tree();
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- No diamond: a linear chain, and fan-in from unrelated roots
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_l1', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_l2', 'SELECT id, v FROM dg_l1');
SELECT pg_temp.st('dg_l3', 'SELECT id, v FROM dg_l2');
SELECT * FROM dg;
SELECT pg_temp.drop_all();

SELECT pg_temp.st('dg_x', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_y', 'SELECT id, w FROM dg_u');
SELECT pg_temp.st('dg_z', 'SELECT x.id, x.v, y.w FROM dg_x x JOIN dg_y y USING (id)');
-- A stream table and an unrelated base table.
SELECT pg_temp.st('dg_z2', 'SELECT x.id, u.w FROM dg_x x JOIN dg_u u USING (id)');
-- Base tables only.
SELECT pg_temp.st('dg_z3', 'SELECT t.id, u.w FROM dg_t t JOIN dg_u u USING (id)');
SELECT * FROM dg;
-- Refreshing a fan-in node of unrelated roots refreshes it alone.
SELECT pgtrickle.refresh_stream_table('dg_z');
SELECT action, group_id, group_epoch FROM pgtrickle.get_refresh_history('dg_z', 1);
SELECT pg_temp.drop_all();

-------------------------------------------------------------------------------
-- Two fan-ins on the same pair of branches: one group, two convergence points
-------------------------------------------------------------------------------
SELECT pg_temp.st('dg_p', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_q', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_c1', 'SELECT p.id FROM dg_p p JOIN dg_q q USING (id)');
SELECT pg_temp.st('dg_c2', 'SELECT q.id, p.v FROM dg_q q JOIN dg_p p USING (id)');
SELECT * FROM dg;
-- Either convergence point being slowest makes the group slowest.
SELECT pgtrickle.alter_stream_table('dg_c2', diamond_schedule_policy => 'slowest');
SELECT member_name, is_convergence, schedule_policy FROM dg;
SELECT pgtrickle.refresh_stream_table('dg_q');
SELECT s.pgt_name, h.group_id, h.group_epoch
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE h.initiated_by = 'MANUAL' ORDER BY h.refresh_id;
SELECT pg_temp.drop_all();

-- Groups sharing a member merge and keep every fan-in node as a convergence point:
-- dg_t -> a, b -> m1 and b, c -> m2 (b is on both diamonds).
SELECT pg_temp.st('dg_a', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_b', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_c', 'SELECT id, v FROM dg_t');
SELECT pg_temp.st('dg_m1', 'SELECT a.id FROM dg_a a JOIN dg_b b USING (id)');
SELECT pg_temp.st('dg_m2', 'SELECT b.id FROM dg_b b JOIN dg_c c USING (id)');
SELECT * FROM dg;
SELECT pg_temp.drop_all();

-- Members in another schema, with an odd name.
CREATE SCHEMA "DG Schema";
SELECT pg_temp.st('"DG Schema"."B 1"', 'SELECT id, v FROM public.dg_t');
SELECT pg_temp.st('"DG Schema".c', 'SELECT id, v FROM public.dg_t');
SELECT pg_temp.st('public.dg_d', 'SELECT b.id FROM "DG Schema"."B 1" b JOIN "DG Schema".c USING (id)');
SELECT * FROM dg;
SELECT pg_temp.drop_all();
DROP SCHEMA "DG Schema";

RESET client_min_messages;
SELECT count(*) AS stream_tables FROM pgtrickle.pgt_stream_tables;
DROP TABLE dg_t;
DROP TABLE dg_u;
