-- stable_functions: time-dependent queries (SPEC §9). A function or operator that is not
-- IMMUTABLE (now(), CURRENT_DATE, current_setting(), a STABLE function reading another table)
-- can change its result while no source changes: DIFFERENTIAL refuses it with 0A000 naming it,
-- AUTO refreshes FULL (and explain_st says why), and such a query is recomputed on every refresh
-- (never skipped as "no new data"). Functions whose bodies read tables draw a WARNING.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE sf_ev (id int PRIMARY KEY, at timestamptz, v int, s text);
INSERT INTO sf_ev VALUES (1, '2020-01-01 00:00+00', 10, '2020-01-01'),
                         (2, '2030-01-01 00:00+00', 20, '2030-01-01');

-- Each of these is refused for DIFFERENTIAL, with the construct named.
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id FROM sf_ev WHERE at > now()',
                                     refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id, CURRENT_DATE AS today FROM sf_ev',
                                     refresh_mode => 'DIFFERENTIAL');
SET sf.threshold = 15;
SELECT pgtrickle.create_stream_table('sf_st',
    'SELECT id FROM sf_ev WHERE v > current_setting(''sf.threshold'')::int',
    refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id, v FROM sf_ev WHERE random() < 2',
                                     refresh_mode => 'DIFFERENTIAL');
-- An operator whose function is STABLE (timestamptz against timestamp depends on TimeZone).
SELECT pgtrickle.create_stream_table('sf_st',
    'SELECT id FROM sf_ev WHERE at > ''2025-01-01''::timestamp', refresh_mode => 'DIFFERENTIAL');
-- A STABLE cast (text to timestamptz reads TimeZone and DateStyle).
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id, s::timestamptz AS t FROM sf_ev',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id, CURRENT_USER AS who FROM sf_ev',
                                     refresh_mode => 'DIFFERENTIAL');
-- Inside a view, in a subquery, in GROUP BY / HAVING: the whole query tree is checked.
CREATE VIEW sf_recent AS SELECT id, v FROM sf_ev WHERE at > now() - interval '1 day';
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id FROM sf_recent',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sf_st',
    'SELECT x.id FROM (SELECT id, at FROM sf_ev WHERE at < clock_timestamp()) x',
    refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('sf_st',
    'SELECT v, count(*) AS n FROM sf_ev GROUP BY v HAVING max(at) < statement_timestamp()',
    refresh_mode => 'DIFFERENTIAL');
-- A user STABLE function reading another table.
CREATE TABLE sf_rates (cur text PRIMARY KEY, rate numeric);
INSERT INTO sf_rates VALUES ('EUR', 2);
CREATE FUNCTION sf_rate(c text) RETURNS numeric STABLE LANGUAGE sql
AS $$ SELECT rate FROM public.sf_rates WHERE cur = c $$;
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id, v * sf_rate(''EUR'') AS eur FROM sf_ev',
                                     refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
-- Switching an existing stream table to DIFFERENTIAL is refused the same way.
SELECT pgtrickle.create_stream_table('sf_st', 'SELECT id FROM sf_ev WHERE at > now()',
                                     refresh_mode => 'FULL');
SELECT pgtrickle.alter_stream_table('sf_st', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('sf_st');

-- IMMUTABLE functions and operators are accepted.
SELECT pgtrickle.create_stream_table('sf_ok',
    'SELECT id, v + 1 AS v1, lower(s) AS ls, at AT TIME ZONE ''UTC'' AS utc FROM sf_ev '
    'WHERE at > ''2025-01-01 00:00+00''::timestamptz', refresh_mode => 'DIFFERENTIAL');
SELECT * FROM sf_ok ORDER BY id;
SELECT pgtrickle.drop_stream_table('sf_ok');

-------------------------------------------------------------------------------
-- AUTO: FULL, every time (a setting changes the result while no source changes)
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('sf_auto',
    'SELECT id, v FROM sf_ev WHERE v > current_setting(''sf.threshold'')::int',
    refresh_mode => 'AUTO');
SELECT property, value FROM pgtrickle.explain_st('sf_auto')
WHERE property IN ('effective_mode', 'mode_reason', 'differential_support') ORDER BY property;
SELECT * FROM sf_auto ORDER BY id;
SET sf.threshold = 5;
SELECT pgtrickle.refresh_stream_table('sf_auto');
SELECT * FROM sf_auto ORDER BY id;
SELECT h.action, h.rows_inserted, h.rows_deleted
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'sf_auto' ORDER BY h.refresh_id;
SELECT pgtrickle.drop_stream_table('sf_auto');
RESET sf.threshold;

-------------------------------------------------------------------------------
-- Functions whose bodies read tables: invisible dependencies, warned about
-------------------------------------------------------------------------------
-- LANGUAGE sql, declared IMMUTABLE although it reads a table: accepted, with a WARNING.
CREATE FUNCTION sf_rate_imm(c text) RETURNS numeric IMMUTABLE LANGUAGE sql
AS $$ SELECT rate FROM public.sf_rates WHERE cur = c $$;
SELECT pgtrickle.create_stream_table('sf_w1',
    'SELECT id, v * sf_rate_imm(''EUR'') AS eur FROM sf_ev', refresh_mode => 'DIFFERENTIAL');
-- A BEGIN ATOMIC body (its dependencies are recorded by PostgreSQL).
CREATE FUNCTION sf_rate_atomic(c text) RETURNS numeric IMMUTABLE LANGUAGE sql
BEGIN ATOMIC SELECT rate FROM public.sf_rates WHERE cur = c; END;
SELECT pgtrickle.create_stream_table('sf_w2',
    'SELECT id, v * sf_rate_atomic(''EUR'') AS eur FROM sf_ev', refresh_mode => 'FULL');
-- plpgsql: a textual check (a query anywhere in the body).
CREATE FUNCTION sf_rate_pl(c text) RETURNS numeric IMMUTABLE LANGUAGE plpgsql
AS $$ BEGIN RETURN (SELECT rate FROM public.sf_rates WHERE cur = c); END $$;
SELECT pgtrickle.create_stream_table('sf_w3',
    'SELECT id, v * sf_rate_pl(''EUR'') AS eur FROM sf_ev', refresh_mode => 'DIFFERENTIAL');
-- Through a view, and on alter_stream_table(query => ...).
CREATE VIEW sf_priced AS SELECT id, v * sf_rate_imm('EUR') AS eur FROM sf_ev;
SELECT pgtrickle.alter_stream_table('sf_w1', query => 'SELECT id, eur FROM sf_priced');
-- The warned-about staleness: the rate changes, the stream table does not notice.
UPDATE sf_rates SET rate = 3;
SELECT pgtrickle.refresh_stream_table('sf_w1');
SELECT * FROM sf_w1 ORDER BY id;
-- Functions that read no table draw no warning.
CREATE FUNCTION sf_double(x int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT x * 2 $$;
CREATE FUNCTION sf_triple(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql
AS $$ BEGIN RETURN x * 3; END $$;
SELECT pgtrickle.create_stream_table('sf_w4',
    'SELECT id, sf_double(v) AS d, sf_triple(v) AS t FROM sf_ev', refresh_mode => 'DIFFERENTIAL');
SELECT * FROM sf_w4 ORDER BY id;

-- Clean up.
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table(n) FROM unnest(ARRAY['sf_w1', 'sf_w2', 'sf_w3', 'sf_w4']) n;
DROP VIEW sf_priced, sf_recent;
DROP FUNCTION sf_rate, sf_rate_imm, sf_rate_atomic, sf_rate_pl, sf_double, sf_triple;
DROP TABLE sf_ev, sf_rates;
RESET client_min_messages;
