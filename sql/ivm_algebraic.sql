-- ivm_algebraic: top-level aggregates maintained from partial state (COUNT, SUM, AVG over
-- integers and numeric, MIN/MAX), compared by binary identity with the defining query after
-- every refresh; the state table's privileges.
\set VERBOSITY terse
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL
CREATE FUNCTION pg_temp.same(st text, q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    stored bytea[];
    expected bytea[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM %s __r', st) INTO stored;
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM (%s) __r', q) INTO expected;
    RETURN stored = expected;
END $$;
CREATE FUNCTION pg_temp.check(st text) RETURNS boolean LANGUAGE sql AS $$
    SELECT pg_temp.same(st, (SELECT defining_query FROM pgtrickle.pgt_stream_tables
                             WHERE pgt_name = st))
$$;
CREATE FUNCTION pg_temp.last_action(st text) RETURNS text LANGUAGE sql AS $$
    SELECT h.action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s
    USING (pgt_id) WHERE s.pgt_name = st ORDER BY h.refresh_id DESC LIMIT 1
$$;

CREATE TABLE al (id int PRIMARY KEY, g int, h text, a int, b bigint, x numeric, y numeric(10,2),
                 f float8, d date);
INSERT INTO al VALUES
  (1, 1, 'p', 1, 10, 1.5, 1.10, 0.1, '2020-01-01'),
  (2, 1, 'p', 2, 20, 2, 2.20, 0.2, '2020-01-02'),
  (3, 2, 'q', NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 2, 'q', 4, 40, 4.000, 4.00, 0.3, '2020-01-04'),
  (5, NULL, NULL, 5, 50, 5.5, 5.50, 0.4, '2020-01-05'),
  (6, 3, 'r', 6, 9223372036854775807, 6, 6.00, 0.5, '2020-01-06');

-- Everything algebraic: keys int and text, HAVING over an aggregate that is not selected,
-- FILTER, expressions over aggregates.
SELECT pgtrickle.create_stream_table('al_all', $q$
  SELECT g, h, count(*) AS n, count(a) AS na, sum(a) AS sa, sum(b) AS sb, avg(a) AS aa,
         avg(b) AS ab, sum(x) AS sx, avg(x) AS ax, sum(y) AS sy, avg(y) AS ay,
         min(a) AS mina, max(b) AS maxb, min(d) AS mind, max(d) AS maxd,
         count(*) FILTER (WHERE a > 1) AS nf, sum(x) FILTER (WHERE a <> 4) AS sxf,
         sum(a) * 2 + count(*) AS expr
  FROM al GROUP BY g, h HAVING count(b) >= 0 $q$, 'calculated', 'DIFFERENTIAL');
-- Only numeric sums: nothing else marks a group for recomputation than the scale rule.
SELECT pgtrickle.create_stream_table('al_num', $q$
  SELECT g, sum(x) AS sx, avg(x) AS ax, sum(y) AS sy, avg(y) AS ay FROM al GROUP BY g $q$,
  'calculated', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('al_having', $q$
  SELECT g, sum(a) AS sa FROM al GROUP BY g HAVING max(a) > 2 AND count(*) > 1 $q$,
  'calculated', 'DIFFERENTIAL');
-- Without GROUP BY: one row, also over an empty input.
SELECT pgtrickle.create_stream_table('al_total', $q$
  SELECT count(*) AS n, sum(a) AS sa, avg(x) AS ax, sum(x) AS sx, min(a) AS mi, max(d) AS md
  FROM al WHERE g IS DISTINCT FROM 99 $q$, 'calculated', 'DIFFERENTIAL');
-- Not algebraic: float sum (not associative), a numeric key, string_agg: the affected groups
-- are recomputed as before.
SELECT pgtrickle.create_stream_table('al_float', 'SELECT g, sum(f) AS sf FROM al GROUP BY g',
                                     'calculated', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('al_numkey', 'SELECT x, count(*) AS n FROM al GROUP BY x',
                                     'calculated', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('al_str',
  'SELECT g, count(*) AS n, string_agg(h, '','' ORDER BY h) AS s FROM al GROUP BY g',
  'calculated', 'DIFFERENTIAL');
SELECT s.pgt_name, e.value FROM pgtrickle.pgt_stream_tables s,
  LATERAL pgtrickle.explain_st(s.pgt_name) e
WHERE e.property = 'differential_support' AND s.pgt_name LIKE 'al\_%' ORDER BY 1;
SELECT value FROM pgtrickle.explain_st('al_having') WHERE property = 'algebraic_aggregates';

CREATE FUNCTION pg_temp.round_trip() RETURNS TABLE (st text, same boolean, action text)
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'al\_%'
             ORDER BY 1 LOOP
        PERFORM pgtrickle.refresh_stream_table(t);
        st := t; same := pg_temp.check(t); action := pg_temp.last_action(t);
        RETURN NEXT;
    END LOOP;
END $$;
SELECT * FROM pg_temp.round_trip();

-- Numeric display scale: 1.5 + 2 = 3.5; without 1.5 the sum is 2 (not 2.0), and 4.000
-- keeps its scale alone in its group.
DELETE FROM al WHERE id = 1;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT g, sx, ax, sy FROM al_all ORDER BY g;
SELECT g, sx, ax, sy FROM al_num ORDER BY g;
-- A larger scale arrives, then leaves again; 2.00 and 2 tie.
INSERT INTO al VALUES (7, 1, 'p', 7, 70, 2.25, 2.25, 0.6, '2019-12-31'),
                      (8, 1, 'p', 8, 80, 2.00, 3.00, 0.7, '2021-01-01');
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
DELETE FROM al WHERE id = 7;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT g, sx, ax FROM al_all ORDER BY g;
-- Deleting the extreme (min and max), NULL inputs only, groups vanishing and appearing,
-- key updates moving rows between groups (and to the NULL key) in one refresh.
UPDATE al SET g = NULL, h = NULL WHERE id = 2;
UPDATE al SET g = 3, h = 'r' WHERE id = 5;
DELETE FROM al WHERE id = 4;
INSERT INTO al VALUES (9, 4, 's', 9, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT g, h, n, na, sa, mina, maxb, nf FROM al_all ORDER BY g, h;
-- NaN and Infinity in numeric sums.
INSERT INTO al VALUES (10, 3, 'r', 1, 1, 'NaN', 1, 1, NULL), (11, 4, 's', 1, 1, 'Infinity', 1, 1, NULL);
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
DELETE FROM al WHERE id = 10;
INSERT INTO al VALUES (12, 4, 's', 1, 1, '-Infinity', 1, 1, NULL);
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT g, sx, ax FROM al_all ORDER BY g;
-- Several refreshes in one transaction; then an empty input.
BEGIN;
INSERT INTO al SELECT i, i % 3, 'p', i, i, i / 8.0, i, i, '2020-02-02' FROM generate_series(20, 60) i;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
DELETE FROM al WHERE id % 2 = 0;
UPDATE al SET x = x * 10, a = -a WHERE id % 3 = 0;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
COMMIT;
DELETE FROM al;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT * FROM al_total;
SELECT count(*) FROM al_all;

-- A stream table over a stream table.
INSERT INTO al VALUES (1, 1, 'p', 1, 10, 1.5, 1.10, 0.1, '2020-01-01'),
                      (2, 1, 'p', 2, 20, 2, 2.20, 0.2, '2020-01-02');
SELECT pgtrickle.create_stream_table('al_up', $q$
  SELECT h, count(*) AS n, sum(sx) AS ssx, max(n) AS mn FROM al_all GROUP BY h $q$,
  'calculated', 'DIFFERENTIAL');
INSERT INTO al VALUES (3, 2, 'p', 3, 30, 3.25, 3, 0.3, '2020-01-03');
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
DELETE FROM al WHERE id = 1;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';

-- The state table: not part of the stream table, rebuilt when missing, by FULL refreshes,
-- dropped when the stream table no longer needs it or is dropped.
SELECT count(*) AS state_tables FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgtrickle_changes' AND c.relname LIKE 'agg\_state\_%' AND c.relkind = 'r';
SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'al_total'::regclass AND attnum > 0 AND NOT attisdropped;
DO $$
DECLARE t text;
BEGIN
  SELECT c.oid::regclass::text INTO t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgtrickle.pgt_stream_tables s ON c.relname LIKE 'agg\_state\_' || s.pgt_id || '\_%'
  WHERE n.nspname = 'pgtrickle_changes' AND s.pgt_name = 'al_all' AND c.relkind = 'r';
  EXECUTE 'DROP TABLE ' || t;
END $$;
INSERT INTO al VALUES (4, 2, 'q', 4, 40, 4.000, 4.00, 0.3, '2020-01-04');
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
DELETE FROM al WHERE id = 3;
SELECT * FROM pg_temp.round_trip() WHERE NOT same OR action <> 'DIFFERENTIAL';
SELECT pgtrickle.alter_stream_table('al_total', refresh_mode => 'FULL');
INSERT INTO al VALUES (5, 5, 't', 5, 50, 5.5, 5.50, 0.4, '2020-01-05');
SELECT pgtrickle.refresh_stream_table('al_total');
SELECT pg_temp.check('al_total'), pg_temp.last_action('al_total');
SELECT count(*) AS state_tables FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgtrickle_changes' AND c.relname LIKE 'agg\_state\_%' AND c.relkind = 'r';

-- A role without privileges cannot read or write the state.
CREATE ROLE al_hostile;
SELECT c.oid::regclass::text AS state FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgtrickle.pgt_stream_tables s ON c.relname LIKE 'agg\_state\_' || s.pgt_id || '\_%'
  WHERE n.nspname = 'pgtrickle_changes' AND s.pgt_name = 'al_having' AND c.relkind = 'r' \gset
SET ROLE al_hostile;
SELECT count(*) FROM :state;
INSERT INTO :state (__pgt_n) VALUES (1);
DELETE FROM :state;
RESET ROLE;
GRANT USAGE ON SCHEMA pgtrickle_changes TO al_hostile;  -- even with the schema usable
\set VERBOSITY sqlstate
SET ROLE al_hostile;
SELECT count(*) FROM :state;
INSERT INTO :state (__pgt_n) VALUES (1);
RESET ROLE;
\set VERBOSITY terse
REVOKE USAGE ON SCHEMA pgtrickle_changes FROM al_hostile;
SELECT has_table_privilege('al_hostile', :'state', 'SELECT, INSERT, UPDATE, DELETE') AS hostile_access;

SELECT pgtrickle.drop_stream_table(pgt_name) FROM pgtrickle.pgt_stream_tables
WHERE pgt_name LIKE 'al\_%' ORDER BY pgt_id DESC;
SELECT count(*) AS state_tables FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgtrickle_changes' AND c.relname LIKE 'agg\_state\_%';
DROP ROLE al_hostile;
DROP TABLE al;
