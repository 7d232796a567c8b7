-- pg_trickle.max_buffer_rows (issue 8, item 6): a reader that lags behind on a shared change
-- buffer (here a SUSPENDED stream table) keeps its rows only up to the limit; past it the laggard
-- is marked for a full rebuild, says why in explain_st, and stops holding the buffer.
\set VERBOSITY default
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE bl_src (id int PRIMARY KEY, v int);
INSERT INTO bl_src SELECT g, g FROM generate_series(1, 3) g;
SELECT pgtrickle.create_stream_table('bl_fast', 'SELECT id, v FROM bl_src',
                                     schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('bl_slow', 'SELECT id, v * 2 AS v2 FROM bl_src',
                                     schedule => '1h', refresh_mode => 'DIFFERENTIAL');
-- Rows in the shared buffer of bl_src.
CREATE FUNCTION bl_buffered() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM pgtrickle_changes.%I',
                   'changes_' || 'bl_src'::regclass::oid) INTO n;
    RETURN n;
END $$;
CREATE VIEW bl_state AS
SELECT pgt_name, status, needs_reinit, reinit_reason, reinit_requested_at IS NOT NULL AS requested
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'bl\_%' ORDER BY pgt_name;

SHOW pg_trickle.max_buffer_rows;
SELECT pgtrickle.alter_stream_table('bl_slow', status => 'SUSPENDED');
SET pg_trickle.max_buffer_rows = 5;

-- Within the limit: the laggard keeps its rows.
INSERT INTO bl_src VALUES (4, 4), (5, 5);
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT bl_buffered();
SELECT * FROM bl_state;

-- Past the limit (7 rows kept only for bl_slow): bl_slow is marked and the buffer emptied.
INSERT INTO bl_src SELECT g, g FROM generate_series(6, 10) g;
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT bl_buffered();
SELECT * FROM bl_state;
SELECT property, value FROM pgtrickle.explain_st('bl_slow')
WHERE property IN ('needs_reinit', 'reinit_reason', 'effective_mode', 'mode_reason');
SELECT property, value FROM pgtrickle.explain_st('bl_fast')
WHERE property IN ('needs_reinit', 'reinit_reason');

-- A marked reader no longer holds the buffer: later changes are trimmed by bl_fast's refreshes.
UPDATE bl_src SET v = v + 100 WHERE id <= 2;
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT bl_buffered();

-- On resume it is rebuilt (REINITIALIZE) and equals its query; the request is cleared.
SELECT pgtrickle.resume_stream_table('bl_slow');
SELECT pgtrickle.refresh_stream_table('bl_slow');
SELECT h.action, h.status FROM pgtrickle.pgt_refresh_history h
JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'bl_slow'
ORDER BY h.refresh_id;
SELECT * FROM bl_state;
SELECT count(*) AS mismatches FROM ((TABLE bl_slow EXCEPT ALL SELECT id, v * 2 FROM bl_src)
    UNION ALL (SELECT id, v * 2 FROM bl_src EXCEPT ALL TABLE bl_slow)) d;
SELECT count(*) AS mismatches FROM ((TABLE bl_fast EXCEPT ALL TABLE bl_src)
    UNION ALL (TABLE bl_src EXCEPT ALL TABLE bl_fast)) d;
-- Both readers are back to DIFFERENTIAL.
INSERT INTO bl_src VALUES (11, 11);
SELECT pgtrickle.refresh_stream_table('bl_slow');
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT s.pgt_name, h.action FROM pgtrickle.pgt_refresh_history h
JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE h.refresh_id > (SELECT max(refresh_id) - 2 FROM pgtrickle.pgt_refresh_history)
ORDER BY h.refresh_id;
SELECT bl_buffered();

-- 0 disables the limit: a laggard keeps every row it has not consumed.
SET pg_trickle.max_buffer_rows = 0;
SELECT pgtrickle.alter_stream_table('bl_slow', status => 'SUSPENDED');
INSERT INTO bl_src SELECT g, g FROM generate_series(12, 30) g;
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT bl_buffered();
SELECT * FROM bl_state;

-- Only superusers may change the limit.
RESET pg_trickle.max_buffer_rows;
CREATE ROLE bl_user;
SET ROLE bl_user;
SET pg_trickle.max_buffer_rows = 1;
RESET ROLE;
DROP ROLE bl_user;

-- A rebuild requested by DDL on a source says why too, and a refresh that rebuilt clears it.
ALTER TABLE bl_src ALTER COLUMN v TYPE bigint;
SELECT property, value FROM pgtrickle.explain_st('bl_fast')
WHERE property IN ('needs_reinit', 'reinit_reason', 'mode_reason');
SELECT pgtrickle.refresh_stream_table('bl_fast');
SELECT * FROM bl_state;

SELECT pgtrickle.drop_stream_table('bl_slow');
SELECT pgtrickle.drop_stream_table('bl_fast');
DROP VIEW bl_state;
DROP FUNCTION bl_buffered();
DROP TABLE bl_src;
