-- stream_tables_view: pgtrickle.stream_tables (one line per stream table: is it fresh, its last
-- refresh, its group) and pgtrickle.pending_changes() (what the change buffers hold, counts only
-- for the owner and pg_read_all_stats).
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute WHERE attrelid = 'pgtrickle.stream_tables'::regclass AND attnum > 0
ORDER BY attnum;

CREATE TABLE stv_src (id int PRIMARY KEY, val int NOT NULL);
INSERT INTO stv_src SELECT g, g * 10 FROM generate_series(1, 10) g;
-- A diamond stv_b, stv_c -> stv_d (an atomic group), a FULL table and one never populated.
SELECT pgtrickle.create_stream_table('stv_b', 'SELECT id, val FROM stv_src',
    schedule => '1m', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('stv_c', 'SELECT id, val * 2 AS v2 FROM stv_src',
    schedule => '1m', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('stv_d',
    'SELECT b.id, b.val, c.v2 FROM stv_b b JOIN stv_c c ON b.id = c.id');
SELECT pgtrickle.create_stream_table('stv_full', 'SELECT count(*) AS n FROM stv_src',
    schedule => '1h', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('stv_later', 'SELECT id FROM stv_src',
    refresh_mode => 'FULL', initialize => false);
SELECT pgtrickle.refresh_stream_table('stv_d');

SELECT name, status, mode, schedule, fresh, staleness IS NOT NULL AS has_staleness,
       last_action, last_status, last_duration >= '0'::interval AS has_duration,
       consecutive_errors, needs_reinit, group_id, group_epoch
FROM pgtrickle.stream_tables;

-- "Is everything fresh?" in one query; what is not.
SELECT bool_and(fresh) AS all_fresh FROM pgtrickle.stream_tables;
SELECT name, status FROM pgtrickle.stream_tables WHERE NOT fresh;
SELECT pgtrickle.refresh_stream_table('stv_later');
SELECT pgtrickle.alter_stream_table('stv_full', status => 'SUSPENDED');
SELECT name, status, fresh FROM pgtrickle.stream_tables WHERE name IN ('public.stv_full', 'public.stv_later');
SELECT pgtrickle.resume_stream_tables();
SELECT bool_and(fresh) AS all_fresh FROM pgtrickle.stream_tables;
-- Not refreshed for more than twice the schedule (a NO_DATA pass counts: it finds nothing
-- changed, so the rows are still current).
UPDATE pgtrickle.pgt_stream_tables SET data_timestamp = now() - interval '3h',
    last_refresh_at = now() - interval '150m'
WHERE pgt_name = 'stv_full';
SELECT name, fresh, staleness > interval '2h' AS old FROM pgtrickle.stream_tables
WHERE name = 'public.stv_full';
UPDATE pgtrickle.pgt_stream_tables SET last_refresh_at = now() - interval '90m'
WHERE pgt_name = 'stv_full';
SELECT name, fresh, staleness > interval '2h' AS old FROM pgtrickle.stream_tables
WHERE name = 'public.stv_full';
SELECT pgtrickle.refresh_stream_table('stv_full');

-- pending_changes(): per stream table and captured source.
INSERT INTO stv_src VALUES (11, 110), (12, 120);
UPDATE stv_src SET val = val + 1 WHERE id = 1;
SELECT * FROM pgtrickle.pending_changes() ORDER BY 1, 2;
SELECT pgtrickle.refresh_stream_table('stv_b');
SELECT * FROM pgtrickle.pending_changes() ORDER BY 1, 2;

-- Other roles see the names but not the counts, unless pg_read_all_stats (pg_monitor).
CREATE ROLE stv_other;
CREATE ROLE stv_monitor IN ROLE pg_monitor;
SET ROLE stv_other;
SELECT name, source, pending_rows, buffer_rows FROM pgtrickle.pending_changes() ORDER BY 1, 2;
SELECT count(*) FROM pgtrickle.stream_tables;
RESET ROLE;
SET ROLE stv_monitor;
SELECT name, source, pending_rows, buffer_rows FROM pgtrickle.pending_changes() ORDER BY 1, 2;
RESET ROLE;

SELECT pgtrickle.drop_stream_table('stv_d');
SELECT pgtrickle.drop_stream_table('stv_b');
SELECT pgtrickle.drop_stream_table('stv_c');
SELECT pgtrickle.drop_stream_table('stv_full');
SELECT pgtrickle.drop_stream_table('stv_later');
DROP TABLE stv_src;
DROP ROLE stv_other, stv_monitor;
SELECT count(*) FROM pgtrickle.stream_tables;
