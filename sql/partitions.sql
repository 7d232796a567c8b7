-- partitions: partitioned sources (issue 8 item 3). DML addressed to the root, to an intermediate
-- partitioned table or to a leaf is captured exactly once; partitions created or attached later
-- are captured; ATTACH / DETACH / DROP of a partition make readers rebuild FULL; DETACH ...
-- CONCURRENTLY from a tracked tree is refused. After every step each stream table is refreshed
-- and compared with its query (EXCEPT ALL both ways, and counts).
\set VERBOSITY default
\set SHOW_CONTEXT never
-- Small tables: without this every change would exceed the ratio and refresh FULL.
SET pg_trickle.differential_max_change_ratio = 1000;

CREATE TABLE m (id int, region text, v int) PARTITION BY LIST (region);
CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
-- Another physical column order and a dropped column: rows map to the root's columns by name.
CREATE TABLE m_us (v int, junk int, region text, id int);
ALTER TABLE m_us DROP COLUMN junk;
ALTER TABLE m ATTACH PARTITION m_us FOR VALUES IN ('us');
-- A sub-partitioned partition and a DEFAULT partition.
CREATE TABLE m_as PARTITION OF m FOR VALUES IN ('as') PARTITION BY RANGE (id);
CREATE TABLE m_as_lo PARTITION OF m_as FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE m_as_hi PARTITION OF m_as FOR VALUES FROM (100) TO (MAXVALUE);
CREATE TABLE m_other PARTITION OF m DEFAULT;
INSERT INTO m VALUES (1, 'eu', 10), (2, 'eu', 20), (3, 'us', 30), (4, 'us', 40), (5, 'as', 50),
                     (150, 'as', 150), (7, 'zz', 70);

SELECT pgtrickle.create_stream_table('m_rows', 'SELECT id, region, v FROM m', '1h',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('m_agg',
    'SELECT region, count(*) AS n, sum(v) AS s FROM m GROUP BY region', '1h', 'DIFFERENTIAL');
-- Partitions read directly too: their own capture lives next to the root's member triggers,
-- and DML addressed to their ancestors reaches them through routed triggers (filtered by the
-- partition constraint, which for the DEFAULT partition changes with its siblings).
SELECT pgtrickle.create_stream_table('eu_rows', 'SELECT id, v FROM m_eu', '1h', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('other_rows', 'SELECT id, region, v FROM m_other', '1h',
                                     'DIFFERENTIAL');

-- Capture triggers per relation (member trigger names carry the root's oid).
CREATE VIEW part_triggers AS
SELECT c.relname, pg_catalog.string_agg(
         pg_catalog.regexp_replace(t.tgname, '^(__pgt_(member|routed|capture_row)_)\d+', '\1<oid>')
           || CASE t.tgenabled WHEN 'A' THEN ' (always)' ELSE '' END, ', '
         ORDER BY t.tgname) AS triggers
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
WHERE t.tgname LIKE '\_\_pgt\_capture%' OR t.tgname LIKE '\_\_pgt\_member%'
   OR t.tgname LIKE '\_\_pgt\_routed%'
GROUP BY c.relname ORDER BY c.relname;
SELECT * FROM part_triggers;

-- Refreshes a stream table and compares it with its query.
CREATE FUNCTION part_check(st text, q text)
RETURNS TABLE (stream_table text, action text, rows_st bigint, rows_query bigint, extra bigint,
               missing bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgtrickle.refresh_stream_table(st);
  stream_table := st;
  SELECT h.action INTO action FROM pgtrickle.get_refresh_history(st, 1) h;
  EXECUTE format('SELECT count(*) FROM %I', st) INTO rows_st;
  EXECUTE format('SELECT count(*) FROM (%s) q', q) INTO rows_query;
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM %I EXCEPT ALL %s) x', st, q) INTO extra;
  EXECUTE format('SELECT count(*) FROM (%s EXCEPT ALL SELECT * FROM %I) x', q, st) INTO missing;
  RETURN NEXT;
END $$;
CREATE VIEW part_checks AS
SELECT * FROM part_check('m_rows', 'SELECT id, region, v FROM m')
UNION ALL
SELECT * FROM part_check('m_agg', 'SELECT region, count(*) AS n, sum(v) AS s FROM m GROUP BY region')
UNION ALL
SELECT * FROM part_check('eu_rows', 'SELECT id, v FROM m_eu')
UNION ALL
SELECT * FROM part_check('other_rows', 'SELECT id, region, v FROM m_other');

SELECT * FROM part_checks;

-------------------------------------------------------------------------------
-- DML addressed to partitions
-------------------------------------------------------------------------------
INSERT INTO m_eu VALUES (8, 'eu', 80);
UPDATE m_us SET v = v + 1 WHERE id = 3;
DELETE FROM m_as_lo WHERE id = 5;
INSERT INTO m_as VALUES (6, 'as', 60), (160, 'as', 160);   -- through the intermediate level
INSERT INTO m_other VALUES (9, 'yy', 90);
SELECT * FROM part_checks;

-- Row movement: UPDATE through the root moves rows between partitions (captured once, as the
-- root's UPDATE), and through the intermediate level between its sub-partitions.
UPDATE m SET region = 'us' WHERE id = 1;
UPDATE m SET region = 'zz' WHERE id = 2;
UPDATE m_as SET id = id + 100 WHERE id = 6;
SELECT * FROM part_checks;

-- DML through the root, and COPY into a partition.
INSERT INTO m VALUES (10, 'eu', 100), (11, 'as', 110);
DELETE FROM m WHERE id IN (4, 7);
COPY m_us (id, region, v) FROM stdin;
12	us	120
\.
SELECT * FROM part_checks;

-- Several statements of one transaction, on several levels.
BEGIN;
INSERT INTO m_eu VALUES (13, 'eu', 130);
UPDATE m_eu SET v = v * 2 WHERE id = 13;
DELETE FROM m_as_hi WHERE id = 150;
UPDATE m SET v = v + 1000 WHERE region = 'as';
COMMIT;
SELECT * FROM part_checks;

-- TRUNCATE of a partition and of a sub-partition: readers rebuild FULL.
TRUNCATE m_us;
SELECT * FROM part_checks;
TRUNCATE m_as_lo;
INSERT INTO m_as VALUES (14, 'as', 140);
SELECT * FROM part_checks;
-- ... also under session_replication_role = replica (logical replication applies a TRUNCATE to
-- the partition it names): the members' TRUNCATE triggers fire ALWAYS.
INSERT INTO m_us VALUES (410, 'us', 41);
SELECT * FROM part_checks;
SET session_replication_role = replica;
TRUNCATE m_us;
RESET session_replication_role;
SELECT * FROM part_checks;

-------------------------------------------------------------------------------
-- Membership changes
-------------------------------------------------------------------------------
-- ATTACH of a table with rows (another column order): its rows join m without DML, FULL.
CREATE TABLE m_jp (region text, v int, id int);
INSERT INTO m_jp VALUES ('jp', 200, 20), ('jp', 210, 21);
ALTER TABLE m ATTACH PARTITION m_jp FOR VALUES IN ('jp');
SELECT * FROM part_triggers WHERE relname = 'm_jp';
SELECT value AS mode_reason FROM pgtrickle.explain_st('m_rows') WHERE property = 'mode_reason';
SELECT * FROM part_checks;
-- ... and its later changes are captured.
INSERT INTO m_jp VALUES ('jp', 220, 22);
DELETE FROM m_jp WHERE id = 20;
SELECT * FROM part_checks;

-- CREATE TABLE ... PARTITION OF: a new empty partition, captured from its first row on (in the
-- same transaction too).
BEGIN;
CREATE TABLE m_br PARTITION OF m FOR VALUES IN ('br');
INSERT INTO m_br VALUES (23, 'br', 230);
COMMIT;
SELECT * FROM part_triggers WHERE relname = 'm_br';
SELECT * FROM part_checks;
-- Partitions created, detached and attached at the intermediate level (three levels deep).
ALTER TABLE m_as DETACH PARTITION m_as_hi;
SELECT * FROM part_checks;
CREATE TABLE m_as_mid PARTITION OF m_as FOR VALUES FROM (100) TO (120) PARTITION BY RANGE (v);
CREATE TABLE m_as_mid_all PARTITION OF m_as_mid DEFAULT;
INSERT INTO m VALUES (105, 'as', 1050);
SELECT * FROM part_triggers WHERE relname LIKE 'm\_as%';
SELECT * FROM part_checks;
DELETE FROM m_as_hi WHERE id < 120;
ALTER TABLE m_as ATTACH PARTITION m_as_hi FOR VALUES FROM (120) TO (MAXVALUE);
SELECT * FROM part_checks;
UPDATE m_as_mid_all SET v = v + 1;
SELECT * FROM part_checks;

-- DETACH: the partition's rows leave m (FULL); its triggers go, its later changes are not m's.
ALTER TABLE m DETACH PARTITION m_us;
SELECT * FROM part_triggers WHERE relname = 'm_us';
SELECT * FROM part_checks;
INSERT INTO m_us VALUES (1, 'us', 24);
SELECT * FROM part_checks;

-- DROP of a partition (a leaf of the sub-partitioned level, then a whole sub-tree).
DROP TABLE m_as_hi;
SELECT * FROM part_checks;
DROP TABLE m_as;
SELECT * FROM part_checks;

-- A partition that is also read directly keeps its own capture when detached.
ALTER TABLE m DETACH PARTITION m_eu;
SELECT * FROM part_triggers WHERE relname = 'm_eu';
SELECT * FROM part_checks;
INSERT INTO m_eu VALUES (25, 'eu', 250);
SELECT * FROM part_checks;
ALTER TABLE m ATTACH PARTITION m_eu FOR VALUES IN ('eu');
SELECT * FROM part_triggers WHERE relname = 'm_eu';
SELECT * FROM part_checks;
UPDATE m SET v = v + 1 WHERE region = 'eu';
SELECT * FROM part_checks;

-- The DEFAULT partition's constraint shrinks as partitions are added: rows routed to a new
-- partition are not the DEFAULT partition's.
INSERT INTO m VALUES (27, 'qq', 270), (28, 'pp', 280);
SELECT * FROM part_checks;
CREATE TABLE m_xx PARTITION OF m FOR VALUES IN ('xx', 'ww');
INSERT INTO m VALUES (29, 'xx', 290), (30, 'qq', 300), (31, 'ww', 310);
UPDATE m SET region = 'ww' WHERE id = 27;
UPDATE m SET region = 'vv' WHERE id = 29;
SELECT * FROM part_checks;

-- DETACH ... CONCURRENTLY commits its first half before any DDL event could record it: refused
-- (m has a DEFAULT partition, for which PostgreSQL refuses it anyway: another tree).
CREATE TABLE c (id int, v int) PARTITION BY LIST (id);
CREATE TABLE c_1 PARTITION OF c FOR VALUES IN (1);
CREATE TABLE c_2 PARTITION OF c FOR VALUES IN (2);
INSERT INTO c VALUES (1, 10), (2, 20);
SELECT pgtrickle.create_stream_table('c_rows', 'SELECT id, v FROM c', '1h',
                                     'DIFFERENTIAL');
ALTER TABLE c DETACH PARTITION c_2 CONCURRENTLY;
SELECT * FROM part_check('c_rows', 'SELECT id, v FROM c');
SELECT pgtrickle.drop_stream_table('c_rows');
-- Not a tracked tree: allowed.
CREATE TABLE u (id int) PARTITION BY LIST (id);
CREATE TABLE u_1 PARTITION OF u FOR VALUES IN (1);
ALTER TABLE u DETACH PARTITION u_1 CONCURRENTLY;

-- ALTER TABLE on the root propagates to the partitions, whose capture follows.
ALTER TABLE m ADD COLUMN note text;
INSERT INTO m_jp VALUES ('jp', 260, 26, 'n');
UPDATE m_eu SET note = 'x';
SELECT * FROM part_checks;

-- A leaf two levels down read directly: DML through the root and through its parent, row
-- movement into and out of it at both levels, rows of its siblings.
CREATE TABLE n (id int, region text, v int) PARTITION BY LIST (region);
CREATE TABLE n_a PARTITION OF n FOR VALUES IN ('a', 'b') PARTITION BY RANGE (id);
CREATE TABLE n_a1 PARTITION OF n_a FOR VALUES FROM (0) TO (10);
CREATE TABLE n_a2 PARTITION OF n_a DEFAULT;
CREATE TABLE n_c PARTITION OF n FOR VALUES IN ('c');
INSERT INTO n VALUES (1, 'a', 1), (11, 'a', 11), (2, 'c', 2);
SELECT pgtrickle.create_stream_table('n_a1_rows', 'SELECT id, region, v FROM n_a1', '1h',
                                     'DIFFERENTIAL');
SELECT * FROM part_triggers WHERE relname LIKE 'n%';
INSERT INTO n VALUES (3, 'b', 3), (12, 'a', 12), (4, 'c', 4), (NULL, 'a', 0);
INSERT INTO n_a VALUES (5, 'a', 5), (13, 'b', 13);
UPDATE n SET id = id + 10 WHERE id = 1;          -- out of n_a1, through the root
UPDATE n_a SET id = id - 10 WHERE id = 13;       -- into n_a1, through its parent
UPDATE n SET region = 'a', id = 6 WHERE id = 2;  -- from n_c into n_a1
UPDATE n SET v = v * 100 WHERE region IN ('a', 'b');
DELETE FROM n WHERE id = 3;
SELECT * FROM part_check('n_a1_rows', 'SELECT id, region, v FROM n_a1');
SELECT pgtrickle.drop_stream_table('n_a1_rows');
SELECT * FROM part_triggers WHERE relname LIKE 'n%';

-- A partition whose constraint calls a user's function (which capture will not run as its
-- owner): DML through its ancestors makes its readers rebuild FULL.
CREATE FUNCTION part_bucket(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE
AS 'BEGIN RETURN i % 10; END';
CREATE TABLE k (id int, v int) PARTITION BY RANGE (part_bucket(id));
CREATE TABLE k_lo PARTITION OF k FOR VALUES FROM (0) TO (5);
CREATE TABLE k_hi PARTITION OF k FOR VALUES FROM (5) TO (10);
INSERT INTO k VALUES (1, 1), (7, 7);
SELECT pgtrickle.create_stream_table('k_lo_rows', 'SELECT id, v FROM k_lo', '1h', 'DIFFERENTIAL');
INSERT INTO k VALUES (2, 2), (8, 8);
SELECT * FROM part_check('k_lo_rows', 'SELECT id, v FROM k_lo');
INSERT INTO k_lo VALUES (3, 3);
SELECT * FROM part_check('k_lo_rows', 'SELECT id, v FROM k_lo');
UPDATE k SET id = id + 5 WHERE id = 1;
SELECT * FROM part_check('k_lo_rows', 'SELECT id, v FROM k_lo');
SELECT pgtrickle.drop_stream_table('k_lo_rows');
-- An enum key is built-in code: filtered, DIFFERENTIAL. (The enum itself as output column: enum
-- to text is a STABLE cast, which DIFFERENTIAL refuses.)
CREATE TYPE part_color AS ENUM ('red', 'blue');
CREATE TABLE e (id int, c part_color) PARTITION BY LIST (c);
CREATE TABLE e_red PARTITION OF e FOR VALUES IN ('red');
CREATE TABLE e_blue PARTITION OF e FOR VALUES IN ('blue');
SELECT pgtrickle.create_stream_table('e_red_rows', 'SELECT id, c FROM e_red', '1h',
                                     'DIFFERENTIAL');
INSERT INTO e VALUES (1, 'red'), (2, 'blue'), (3, 'blue');
UPDATE e SET c = 'red' WHERE id = 2;
SELECT * FROM part_check('e_red_rows', 'SELECT id, c FROM e_red');
SELECT pgtrickle.drop_stream_table('e_red_rows');

-------------------------------------------------------------------------------
-- Dropping the stream tables removes every capture trigger and function.
-------------------------------------------------------------------------------
SELECT pgtrickle.drop_stream_table('m_rows');
SELECT * FROM part_triggers;
SELECT pgtrickle.drop_stream_table('eu_rows');
SELECT * FROM part_triggers;
SELECT pgtrickle.drop_stream_table('m_agg');
SELECT pgtrickle.drop_stream_table('other_rows');
SELECT * FROM part_triggers;
SELECT count(*) AS capture_functions FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'pgtrickle_changes';

DROP VIEW part_checks;
DROP FUNCTION part_check(text, text);
DROP VIEW part_triggers;
DROP TABLE m, m_us, u, u_1, k, c, e, n;
DROP TYPE part_color;
DROP FUNCTION part_bucket(int);
RESET pg_trickle.differential_max_change_ratio;
