-- A manual refresh that finds nothing to do (NO_DATA): its history row is written once, finished,
-- and it does not lock the change-tracking rows of buffers that hold nothing to trim. With
-- changes pending, the refresh still records its row and trims the consumed buffer rows.
CREATE TABLE nd_src (id int PRIMARY KEY, a int NOT NULL);
INSERT INTO nd_src SELECT g, g % 10 FROM generate_series(1, 100) g;
SELECT pgtrickle.create_stream_table('nd_st', 'SELECT id, a FROM nd_src WHERE a % 2 = 0',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.refresh_stream_table('nd_st');
SELECT data_timestamp AS ts0 FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'nd_st' \gset

-- nothing changed: one history INSERT, no UPDATE; the tracking row is not locked (no trim)
BEGIN;
SELECT n_tup_ins AS ins0, n_tup_upd AS upd0 FROM pg_stat_xact_all_tables
WHERE relid = 'pgtrickle.pgt_refresh_history'::regclass \gset
SELECT pgtrickle.refresh_stream_table('nd_st');
SELECT n_tup_ins - :ins0 AS inserted, n_tup_upd - :upd0 AS updated FROM pg_stat_xact_all_tables
WHERE relid = 'pgtrickle.pgt_refresh_history'::regclass;
SELECT count(*) FILTER (WHERE xmax::text = pg_current_xact_id()::text) AS locked_by_me
FROM pgtrickle.pgt_change_tracking WHERE source_relid = 'nd_src'::regclass;
COMMIT;
SELECT h.action, h.status, h.initiated_by, h.end_time >= h.start_time AS ordered,
       h.data_timestamp > :'ts0'::timestamptz AS snapshot_time_recorded
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'nd_st' ORDER BY refresh_id DESC LIMIT 1;
SELECT data_timestamp = :'ts0'::timestamptz AS data_timestamp_kept,
       last_refresh_at >= data_timestamp AS refreshed_after
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'nd_st';

-- changes: DIFFERENTIAL, recorded once and finished; the consumed rows are trimmed
INSERT INTO nd_src VALUES (101, 4);
SELECT pgtrickle.refresh_stream_table('nd_st');
SELECT h.action, h.status, h.initiated_by, h.rows_inserted, h.rows_deleted, h.end_time >= h.start_time AS ordered,
       h.data_timestamp > :'ts0'::timestamptz AS newer
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'nd_st' ORDER BY refresh_id DESC LIMIT 1;
SELECT pending_rows, buffer_rows FROM pgtrickle.pending_changes() WHERE name LIKE '%nd_st';
-- then nothing again: NO_DATA
SELECT pgtrickle.refresh_stream_table('nd_st');
SELECT h.action, h.status FROM pgtrickle.pgt_refresh_history h
JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'nd_st' ORDER BY refresh_id DESC LIMIT 1;
SELECT count(*) AS history_rows, count(*) FILTER (WHERE h.status = 'COMPLETED') AS completed
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'nd_st';
SELECT pgtrickle.drop_stream_table('nd_st');
DROP TABLE nd_src;
