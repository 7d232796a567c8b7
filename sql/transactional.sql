-- transactional: the SQL API runs in the caller's transaction; an error or a rollback leaves no
-- table, trigger, buffer or catalog row behind (SPEC §4).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TEMP VIEW txn_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pgtrickle.pgt_dependencies) AS dependencies,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) AS history_rows,
       (SELECT count(*) FROM pgtrickle.pgt_change_tracking) AS tracked_sources,
       (SELECT count(*) FROM pg_class
         WHERE relnamespace = 'pgtrickle_changes'::regnamespace) AS buffer_relations,
       (SELECT count(*) FROM pg_proc
         WHERE pronamespace = 'pgtrickle_changes'::regnamespace) AS capture_functions,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\_\_pgt\_%') AS triggers,
       (SELECT count(*) FROM pg_class WHERE relname LIKE 'tx\_st%' AND relkind = 'r') AS st_tables;

CREATE TABLE tx_src (id int PRIMARY KEY, d int);
INSERT INTO tx_src VALUES (1, 1), (2, 2);
SELECT * FROM txn_state;

-- BEGIN; create; ROLLBACK: nothing is left.
BEGIN;
SELECT pgtrickle.create_stream_table('tx_st', 'SELECT id, 10 / d AS q FROM tx_src');
SELECT * FROM tx_st ORDER BY id;
SELECT * FROM txn_state;
ROLLBACK;
SELECT * FROM txn_state;
SELECT to_regclass('tx_st') IS NULL AS no_table;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'tx_src'::regclass;

-- An error later in the transaction rolls the creation back too.
BEGIN;
SELECT pgtrickle.create_stream_table('tx_st', 'SELECT id, 10 / d AS q FROM tx_src');
SELECT 1 / 0;
COMMIT;
SELECT * FROM txn_state;

-- An error in the middle of create_stream_table (the initial population fails): nothing is
-- left, and the caller's transaction can go on after ROLLBACK TO SAVEPOINT.
INSERT INTO tx_src VALUES (3, 0);
SELECT pgtrickle.create_stream_table('tx_st', 'SELECT id, 10 / d AS q FROM tx_src');
\echo :SQLSTATE
SELECT * FROM txn_state;
BEGIN;
SAVEPOINT before_create;
SELECT pgtrickle.create_stream_table('tx_st', 'SELECT id, 10 / d AS q FROM tx_src');
ROLLBACK TO SAVEPOINT before_create;
SELECT pgtrickle.create_stream_table('tx_st', 'SELECT id, 10 / d AS q FROM tx_src WHERE d <> 0');
COMMIT;
SELECT * FROM tx_st ORDER BY id;
SELECT pgt_name, status, is_populated FROM pgtrickle.pgt_stream_tables;
SELECT * FROM txn_state;

-- Two stream tables created in one transaction, one rolled back to a savepoint.
BEGIN;
SELECT pgtrickle.create_stream_table('tx_st2', 'SELECT id FROM tx_src');
SAVEPOINT s;
SELECT pgtrickle.create_stream_table('tx_st3', 'SELECT id FROM tx_st2');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT pgt_name FROM pgtrickle.pgt_stream_tables ORDER BY 1;
SELECT pgtrickle.drop_stream_table('tx_st2');

-- A rolled-back drop leaves the stream table working.
BEGIN;
SELECT pgtrickle.drop_stream_table('tx_st');
SELECT to_regclass('tx_st') IS NULL AS gone_inside;
ROLLBACK;
SELECT * FROM txn_state;
UPDATE tx_src SET d = 5 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('tx_st');
SELECT * FROM tx_st ORDER BY id;

-- A rolled-back alter leaves every property as it was.
BEGIN;
SELECT pgtrickle.alter_stream_table('tx_st', schedule => '1h', refresh_mode => 'FULL',
                                    status => 'SUSPENDED', diamond_consistency => 'none',
                                    query => 'SELECT id, d FROM tx_src');
SELECT schedule, refresh_mode, status, diamond_consistency FROM pgtrickle.pgt_stream_tables;
ROLLBACK;
SELECT schedule, refresh_mode, status, diamond_consistency, original_query
FROM pgtrickle.pgt_stream_tables;
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = 'tx_st'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT * FROM tx_st ORDER BY id;

-- A rolled-back refresh leaves the old rows and bookkeeping.
UPDATE tx_src SET d = 10 WHERE id = 2;
CREATE TEMP TABLE tx_before AS
SELECT data_timestamp, last_refresh_at,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) AS history_rows
FROM pgtrickle.pgt_stream_tables;
BEGIN;
SELECT pgtrickle.refresh_stream_table('tx_st');
SELECT * FROM tx_st ORDER BY id;
ROLLBACK;
SELECT * FROM tx_st ORDER BY id;
SELECT st.data_timestamp = b.data_timestamp AS same_data_timestamp,
       st.last_refresh_at = b.last_refresh_at AS same_last_refresh,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) = b.history_rows AS same_history
FROM pgtrickle.pgt_stream_tables st, tx_before b;
-- The changes are still pending and reach the next refresh.
SELECT pgtrickle.refresh_stream_table('tx_st');
SELECT * FROM tx_st ORDER BY id;
DROP TABLE tx_before;

-- Changes made in the refreshing transaction itself are seen by its refresh.
BEGIN;
UPDATE tx_src SET d = 1 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('tx_st');
SELECT * FROM tx_st ORDER BY id;
COMMIT;
SELECT * FROM tx_st ORDER BY id;

SELECT pgtrickle.drop_stream_table('tx_st');
DROP TABLE tx_src;
SELECT * FROM txn_state;
