-- sampling: TABLESAMPLE picks rows by where they are stored, not by their values, so no delta
-- can maintain it. DIFFERENTIAL refuses it with 0A000 naming it, wherever it appears (top level,
-- subquery, view); AUTO refreshes FULL and says why; FULL keeps the sample equal to its query.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE smp (id int PRIMARY KEY, v int);
INSERT INTO smp SELECT g, g % 7 FROM generate_series(1, 200) g;
CREATE VIEW smp_v AS SELECT id, v FROM smp TABLESAMPLE BERNOULLI (10) REPEATABLE (42);
SELECT pgtrickle.create_stream_table('smp_d',
    'SELECT id FROM smp TABLESAMPLE BERNOULLI (10) REPEATABLE (42)', '1h', 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('smp_d',
    'SELECT v, count(*) AS n FROM (SELECT v FROM smp TABLESAMPLE SYSTEM (50) REPEATABLE (1)) s GROUP BY v',
    '1h', 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('smp_d', 'SELECT id FROM smp_v', '1h', 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('smp_a',
    'SELECT id FROM smp TABLESAMPLE BERNOULLI (10) REPEATABLE (42)', '1h', 'AUTO');
SELECT pgtrickle.create_stream_table('smp_f', 'SELECT id, v FROM smp_v', '1h', 'FULL');
SELECT property, value FROM pgtrickle.explain_st('smp_a')
WHERE property IN ('effective_mode', 'differential_support') ORDER BY property;
-- The sample does not grow to every inserted row.
INSERT INTO smp SELECT g, g % 7 FROM generate_series(201, 1200) g;
SELECT pgtrickle.refresh_stream_table('smp_a');
SELECT pgtrickle.refresh_stream_table('smp_f');
SELECT (SELECT count(*) FROM smp_a) < 600 AS sampled,
       (SELECT count(*) FROM smp_a) = (SELECT count(*) FROM smp TABLESAMPLE BERNOULLI (10) REPEATABLE (42)) AS a_ok,
       (SELECT count(*) FROM smp_f) = (SELECT count(*) FROM smp_v) AS f_ok;
SELECT h.action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'smp_a' AND h.initiated_by = 'MANUAL';
SELECT pgtrickle.drop_stream_table('smp_a');
SELECT pgtrickle.drop_stream_table('smp_f');
DROP VIEW smp_v;
DROP TABLE smp;
RESET pg_trickle.differential_max_change_ratio;
