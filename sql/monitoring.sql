-- monitoring: pgt_status(), get_refresh_history(), st_refresh_stats(), the views,
-- explain_st(), dependency_tree() and health_check() (SPEC §3.2). Only stable columns are shown:
-- no timestamps, durations or ids.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE mon_orders (id int PRIMARY KEY, customer text, amount int)
    WITH (autovacuum_enabled = false);  -- AUTO's change-ratio check reads reltuples
INSERT INTO mon_orders VALUES (1, 'a', 10), (2, 'b', 20), (3, 'a', 30);
CREATE TABLE mon_customers (id int PRIMARY KEY, customer text, vip boolean);
INSERT INTO mon_customers VALUES (1, 'a', true), (2, 'b', false), (3, 'c', true);
CREATE VIEW mon_big AS SELECT id, customer FROM mon_customers WHERE vip;

SELECT pgtrickle.create_stream_table('mon_totals',
    'SELECT customer, sum(amount) AS total FROM mon_orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('mon_big_st', 'SELECT id, customer FROM mon_big',
                                     schedule => '@hourly', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('mon_join',
    'SELECT t.customer, t.total, count(b.id) AS big_orders
     FROM mon_totals t LEFT JOIN mon_big_st b USING (customer) GROUP BY t.customer, t.total',
    refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('mon_later', 'SELECT id FROM mon_orders',
                                     initialize => false);

-------------------------------------------------------------------------------
-- pgt_status()
-------------------------------------------------------------------------------
SELECT name, status, refresh_mode, is_populated, consecutive_errors, schedule,
       data_timestamp IS NOT NULL AS has_data_timestamp,
       staleness IS NOT NULL AS has_staleness, staleness >= interval '0' AS staleness_not_negative
FROM pgtrickle.pgt_status();

-------------------------------------------------------------------------------
-- get_refresh_history(name, max_rows)
-------------------------------------------------------------------------------
UPDATE mon_orders SET amount = 40 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('mon_totals');
SELECT pgtrickle.refresh_stream_table('mon_totals');
INSERT INTO mon_orders VALUES (4, 'c', 5);
SELECT pgtrickle.refresh_stream_table('mon_totals');
SELECT action, status, initiated_by, rows_inserted, rows_deleted, error_message, group_id,
       group_epoch, data_timestamp IS NOT NULL AS has_data_timestamp,
       end_time >= start_time AS ends_after_start, duration_ms >= 0 AS has_duration
FROM pgtrickle.get_refresh_history('mon_totals');
-- Newest first; max_rows limits.
SELECT action, rows_inserted FROM pgtrickle.get_refresh_history('mon_totals', 2);
SELECT count(*) FROM pgtrickle.get_refresh_history('mon_totals', 0);
SELECT count(*) FROM pgtrickle.get_refresh_history('mon_totals', -1);
SELECT bool_and(a.refresh_id > b.refresh_id) AS newest_first
FROM (SELECT refresh_id, row_number() OVER () AS n FROM pgtrickle.get_refresh_history('mon_totals')) a
JOIN (SELECT refresh_id, row_number() OVER () AS n FROM pgtrickle.get_refresh_history('mon_totals')) b
  ON b.n = a.n + 1;
-- The history of a stream table never refreshed is empty.
SELECT count(*) FROM pgtrickle.get_refresh_history('mon_later');
-- Names resolve like relation names.
SELECT count(*) FROM pgtrickle.get_refresh_history('public.mon_totals');

-------------------------------------------------------------------------------
-- st_refresh_stats() and pg_stat_stream_tables
-------------------------------------------------------------------------------
SELECT name, total_refreshes, successful_refreshes, failed_refreshes, rolled_back_refreshes,
       full_refreshes, differential_refreshes, no_data_refreshes, total_rows_inserted,
       total_rows_deleted, avg_duration_ms >= 0 AS has_avg, max_duration_ms >= avg_duration_ms AS max_ge_avg,
       last_refresh_at IS NOT NULL AS has_last_refresh
FROM pgtrickle.st_refresh_stats();
SELECT pgt_schema, pgt_name, status, refresh_mode, is_populated, consecutive_errors, stale,
       total_refreshes, successful_refreshes, failed_refreshes, full_refreshes, no_data_refreshes,
       total_rows_inserted, total_rows_deleted
FROM pgtrickle.pg_stat_stream_tables ORDER BY pgt_name;

-------------------------------------------------------------------------------
-- stream_tables_info: staleness and stale
-------------------------------------------------------------------------------
SELECT pgt_name, schedule, status, staleness IS NOT NULL AS has_staleness, stale
FROM pgtrickle.stream_tables_info ORDER BY pgt_name;
-- Data older than twice the schedule is stale (the catalog is edited directly to age it).
UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = now() - interval '3 minutes'
WHERE pgt_name IN ('mon_totals', 'mon_join');
UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = now() - interval '1 hour'
WHERE pgt_name = 'mon_big_st';
SELECT pgt_name, schedule, staleness >= interval '3 minutes' AS at_least_3min, stale
FROM pgtrickle.stream_tables_info ORDER BY pgt_name;
SELECT check_name, severity FROM pgtrickle.health_check() WHERE check_name = 'stale_tables';
-- A refresh with changes brings it back.
UPDATE mon_orders SET amount = 41 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('mon_totals');
SELECT pgt_name, stale FROM pgtrickle.stream_tables_info WHERE pgt_name = 'mon_totals';
-- A suspended stream table is not reported stale.
SELECT pgtrickle.alter_stream_table('mon_big_st', status => 'SUSPENDED');
SELECT pgt_name, status, stale FROM pgtrickle.stream_tables_info WHERE pgt_name = 'mon_big_st';

-------------------------------------------------------------------------------
-- health_check()
-------------------------------------------------------------------------------
SELECT check_name, severity, detail FROM pgtrickle.health_check()
WHERE check_name <> 'stale_tables';
SELECT pgtrickle.resume_stream_table('mon_big_st');
SELECT pgtrickle.refresh_stream_table('mon_big_st');
SELECT pgtrickle.refresh_stream_table('mon_join');
SELECT check_name, severity, detail FROM pgtrickle.health_check();

-------------------------------------------------------------------------------
-- explain_st()
-------------------------------------------------------------------------------
SELECT e.property, e.value
FROM pgtrickle.explain_st('mon_totals') WITH ORDINALITY e
WHERE e.property NOT IN ('data_timestamp', 'defining_query', 'full_refresh_sql', 'delta_sql',
                         'differential_apply_sql')
ORDER BY e.ordinality;
-- Every property, in order.
SELECT string_agg(e.property, ', ' ORDER BY e.ordinality) AS properties
FROM pgtrickle.explain_st('mon_totals') WITH ORDINALITY e;
SELECT e.property, e.value
FROM pgtrickle.explain_st('mon_big_st') WITH ORDINALITY e
WHERE e.property IN ('schedule', 'schedule_kind', 'sources')
ORDER BY e.ordinality;
SELECT e.property, e.value
FROM pgtrickle.explain_st('mon_later') WITH ORDINALITY e
WHERE e.property IN ('status', 'refresh_mode', 'is_populated', 'data_timestamp')
ORDER BY e.ordinality;
SELECT e.value = (SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'mon_join')
       AS shows_defining_query
FROM pgtrickle.explain_st('mon_join') e WHERE e.property = 'defining_query';

-------------------------------------------------------------------------------
-- dependency_tree()
-------------------------------------------------------------------------------
SELECT tree_line, node, node_type, depth, group_id FROM pgtrickle.dependency_tree();

SELECT pgtrickle.drop_stream_table('mon_later');
SELECT pgtrickle.drop_stream_table('mon_totals', cascade => true);
SELECT pgtrickle.drop_stream_table('mon_big_st');
SELECT count(*) FROM pgtrickle.pgt_status();
SELECT count(*) FROM pgtrickle.st_refresh_stats();
SELECT count(*) FROM pgtrickle.dependency_tree();
DROP VIEW mon_big;
DROP TABLE mon_customers;
DROP TABLE mon_orders;
