-- auto_cost: AUTO chooses each refresh by PostgreSQL's estimates of the DIFFERENTIAL and the
-- FULL refresh (written rows included), FULL only when it saves at least
-- pg_trickle.auto_full_min_saving; explain_st shows both costs and the choice. The estimates
-- plan the user's query, so they run as the owner like everything else (the hostile role below).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE ac_src (id int PRIMARY KEY, g int NOT NULL, a int NOT NULL)
    WITH (autovacuum_enabled = false);  -- the change ratio reads reltuples
INSERT INTO ac_src SELECT i, i % 100, i FROM generate_series(1, 20000) i;
ANALYZE ac_src;
SELECT pgtrickle.create_stream_table('ac_filter',
    'SELECT id, g, a FROM ac_src WHERE a % 2 = 0');
SELECT pgtrickle.create_stream_table('ac_sums',
    'SELECT g, count(*) AS n, sum(a) AS s FROM ac_src GROUP BY g');
SELECT pgtrickle.create_stream_table('ac_diff',
    'SELECT id, a FROM ac_src WHERE a < 100', refresh_mode => 'DIFFERENTIAL');

-- The costs as explain_st shows them: numbers vary with the statistics, so only how they
-- compare is printed; the reason with its numbers masked.
CREATE FUNCTION ac_explain(st text) RETURNS TABLE (property text, value text) LANGUAGE sql AS $$
    SELECT property,
           CASE WHEN property = 'auto_full_cost' AND value IS NULL THEN '(not estimated)'
                ELSE regexp_replace(value, '[0-9]+(\.[0-9]+)?', 'N', 'g')
           END
    FROM pgtrickle.explain_st(st)
    WHERE property IN ('effective_mode', 'mode_reason', 'auto_differential_cost', 'auto_full_cost')
$$;
-- Whether FULL was estimated cheaper than DIFFERENTIAL (the totals lead the values).
CREATE FUNCTION ac_full_cheaper(st text) RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT split_part(value, ' ', 1)::numeric FROM pgtrickle.explain_st(st)
            WHERE property = 'auto_full_cost')
         < (SELECT split_part(value, ' ', 1)::numeric FROM pgtrickle.explain_st(st)
            WHERE property = 'auto_differential_cost')
$$;
-- The stream table against its query, by binary identity (EXCEPT ALL over the row images).
CREATE FUNCTION ac_diff_rows(st text, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT textin(record_out(t)) FROM %s t EXCEPT ALL
                      SELECT textin(record_out(q)) FROM (%s) q) UNION ALL
                     (SELECT textin(record_out(q)) FROM (%s) q EXCEPT ALL
                      SELECT textin(record_out(t)) FROM %s t)) x', st, q, q, st) INTO n;
    RETURN n;
END $$;
CREATE FUNCTION ac_last_action(st text) RETURNS text LANGUAGE sql AS $$
    SELECT h.action FROM pgtrickle.pgt_refresh_history h
    JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
    WHERE s.pgt_name = st ORDER BY h.refresh_id DESC LIMIT 1
$$;

-------------------------------------------------------------------------------
-- A few changed rows: the DIFFERENTIAL estimate is below the minimum saving, so FULL is not
-- even estimated.
-------------------------------------------------------------------------------
UPDATE ac_src SET a = a + 1 WHERE id <= 10;
SELECT * FROM ac_explain('ac_filter');
SELECT * FROM ac_explain('ac_sums');
SELECT pgtrickle.refresh_stream_table('ac_filter');
SELECT pgtrickle.refresh_stream_table('ac_sums');
SELECT ac_last_action('ac_filter') AS filter, ac_last_action('ac_sums') AS sums;
SELECT ac_diff_rows('ac_filter', 'SELECT id, g, a FROM ac_src WHERE a % 2 = 0') AS filter_wrong,
       ac_diff_rows('ac_sums', 'SELECT g, count(*) AS n, sum(a) AS s FROM ac_src GROUP BY g') AS sums_wrong;

-- With no minimum, FULL is estimated too (and is dearer for ten changes).
SET pg_trickle.auto_full_min_saving = 0;
UPDATE ac_src SET a = a + 1 WHERE id <= 10;
SELECT * FROM ac_explain('ac_filter');
SELECT ac_full_cheaper('ac_filter');
SELECT pgtrickle.refresh_stream_table('ac_filter');
SELECT ac_last_action('ac_filter');
RESET pg_trickle.auto_full_min_saving;

-------------------------------------------------------------------------------
-- Every row changed. The change ratio would already refuse DIFFERENTIAL; lifted, the costs
-- decide: FULL.
-------------------------------------------------------------------------------
SET pg_trickle.differential_max_change_ratio = 1000;
UPDATE ac_src SET a = a + 1;
SELECT * FROM ac_explain('ac_filter');
SELECT ac_full_cheaper('ac_filter');
SELECT pgtrickle.refresh_stream_table('ac_filter');
SELECT ac_last_action('ac_filter');
SELECT ac_diff_rows('ac_filter', 'SELECT id, g, a FROM ac_src WHERE a % 2 = 0') AS filter_wrong;

-- An algebraic aggregate's FULL aggregates once, into its state, and writes the rows from it;
-- the next small change is applied from that state.
SELECT * FROM ac_explain('ac_sums');
SELECT pgtrickle.refresh_stream_table('ac_sums');
SELECT ac_last_action('ac_sums');
SELECT ac_diff_rows('ac_sums', 'SELECT g, count(*) AS n, sum(a) AS s FROM ac_src GROUP BY g') AS sums_wrong;
UPDATE ac_src SET a = a + 1 WHERE id <= 10;
SELECT pgtrickle.refresh_stream_table('ac_sums');
SELECT ac_last_action('ac_sums');
SELECT ac_diff_rows('ac_sums', 'SELECT g, count(*) AS n, sum(a) AS s FROM ac_src GROUP BY g') AS sums_wrong;

-- The same change with a minimum saving larger than any estimate: DIFFERENTIAL.
UPDATE ac_src SET a = a + 1;
SET pg_trickle.auto_full_min_saving = 1e12;
SELECT * FROM ac_explain('ac_filter');
SELECT pgtrickle.refresh_stream_table('ac_filter');
SELECT ac_last_action('ac_filter');
SELECT ac_diff_rows('ac_filter', 'SELECT id, g, a FROM ac_src WHERE a % 2 = 0') AS filter_wrong;
RESET pg_trickle.auto_full_min_saving;

-- Under the default ratio, every row changed is FULL before any estimate; the count of the
-- pending changes stops at the first row beyond the ratio (0.15 of 20,000 rows: 3,001).
RESET pg_trickle.differential_max_change_ratio;
UPDATE ac_src SET a = a + 1;
SELECT value FROM pgtrickle.explain_st('ac_filter') WHERE property = 'mode_reason';
SELECT property FROM pgtrickle.explain_st('ac_filter') WHERE property LIKE 'auto%';
SELECT pgtrickle.refresh_stream_table('ac_filter');
SELECT ac_last_action('ac_filter');
SELECT ac_diff_rows('ac_filter', 'SELECT id, g, a FROM ac_src WHERE a % 2 = 0') AS filter_wrong;
SET pg_trickle.differential_max_change_ratio = 1000;

-- An affected-group recomputation (max over text has no algebraic rule) is costed too, and the
-- estimates plan only SELECTs: explain_st locks the storage no more than a read does.
SELECT pgtrickle.create_stream_table('ac_groups',
    'SELECT g, max(a::text) AS m FROM ac_src GROUP BY g');
UPDATE ac_src SET a = a + 1 WHERE id <= 10;
SET pg_trickle.auto_full_min_saving = 0;
BEGIN;
SELECT * FROM ac_explain('ac_groups');
SELECT DISTINCT mode FROM pg_locks
WHERE relation IN ('ac_groups'::regclass, 'ac_sums'::regclass, 'ac_filter'::regclass)
  AND pid = pg_backend_pid() ORDER BY 1;
SELECT count(*) AS estimated FROM pgtrickle.explain_st('ac_sums')
WHERE property LIKE 'auto%' AND value IS NOT NULL;
SELECT count(*) AS estimated FROM pgtrickle.explain_st('ac_filter')
WHERE property LIKE 'auto%' AND value IS NOT NULL;
SELECT DISTINCT mode FROM pg_locks
WHERE relation IN ('ac_groups'::regclass, 'ac_sums'::regclass, 'ac_filter'::regclass)
  AND pid = pg_backend_pid() ORDER BY 1;
COMMIT;
RESET pg_trickle.auto_full_min_saving;
SELECT pgtrickle.refresh_stream_table('ac_groups');
SELECT ac_last_action('ac_groups');
SELECT ac_diff_rows('ac_groups', 'SELECT g, max(a::text) AS m FROM ac_src GROUP BY g') AS groups_wrong;

-- An explicit DIFFERENTIAL table is not costed: it stays DIFFERENTIAL (up to the ratio).
UPDATE ac_src SET a = a + 1 WHERE id <= 50;
SELECT * FROM ac_explain('ac_diff');
SELECT pgtrickle.refresh_stream_table('ac_diff');
SELECT ac_last_action('ac_diff');
RESET pg_trickle.differential_max_change_ratio;

-- A role that neither owns the stream table nor reads pg_read_all_stats sees no estimates, and
-- none are made for it (they rest on the pending-change counts).
CREATE ROLE ac_reader;
SET ROLE ac_reader;
SELECT property, value FROM pgtrickle.explain_st('ac_filter')
WHERE property IN ('effective_mode', 'mode_reason') OR property LIKE 'auto%' ORDER BY property;
RESET ROLE;
DROP ROLE ac_reader;

-- Out of range.
SET pg_trickle.auto_full_min_saving = -1;

-------------------------------------------------------------------------------
-- The estimates plan the owner's query: as the owner, in a security-restricted operation. A
-- hostile owner's "IMMUTABLE" function with a constant argument is folded (so run) by the planner.
-------------------------------------------------------------------------------
CREATE ROLE ac_hostile;
CREATE SCHEMA ac_h AUTHORIZATION ac_hostile;
GRANT USAGE ON SCHEMA ac_h TO PUBLIC;
SET ROLE ac_hostile;
CREATE TABLE ac_h.calls (who name, restricted boolean);
CREATE FUNCTION ac_h.record_call() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    restricted boolean;
BEGIN
    BEGIN
        EXECUTE 'LISTEN ac_probe'; -- refused inside a security-restricted operation
        RAISE EXCEPTION 'not restricted';
    EXCEPTION WHEN others THEN
        restricted := SQLERRM LIKE '%security-restricted operation%';
    END;
    INSERT INTO ac_h.calls VALUES (current_user, restricted);
    RETURN 1;
END $$;
CREATE FUNCTION ac_h.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN ac_h.record_call() * $1;
END $$;
CREATE TABLE ac_h.src (id int PRIMARY KEY, a int);
INSERT INTO ac_h.src SELECT i, i FROM generate_series(1, 1000) i;
SELECT pgtrickle.create_stream_table('ac_h.st', 'SELECT id, a FROM ac_h.src WHERE a > ac_h.f(0)');
UPDATE ac_h.src SET a = a + 1;
RESET ROLE;
TRUNCATE ac_h.calls;
-- A superuser looks and refreshes with every estimate made (no minimum saving, no ratio).
SET pg_trickle.auto_full_min_saving = 0;
SET pg_trickle.differential_max_change_ratio = 1000;
SELECT property FROM pgtrickle.explain_st('ac_h.st')
WHERE property IN ('auto_differential_cost', 'auto_full_cost') AND value IS NOT NULL ORDER BY 1;
SELECT pgtrickle.refresh_stream_table('ac_h.st');
SELECT DISTINCT who, restricted FROM ac_h.calls ORDER BY 1, 2;
SELECT ac_diff_rows('ac_h.st', 'SELECT id, a FROM ac_h.src WHERE a > 0') AS hostile_wrong;
RESET pg_trickle.auto_full_min_saving;
RESET pg_trickle.differential_max_change_ratio;

SELECT pgtrickle.drop_stream_table('ac_h.st');
SELECT pgtrickle.drop_stream_table('ac_filter');
SELECT pgtrickle.drop_stream_table('ac_sums');
SELECT pgtrickle.drop_stream_table('ac_diff');
SELECT pgtrickle.drop_stream_table('ac_groups');
DROP SCHEMA ac_h CASCADE;
DROP ROLE ac_hostile;
DROP TABLE ac_src;
