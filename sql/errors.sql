-- errors: bad input gets a clear error with a proper SQLSTATE and changes nothing (SPEC §8).
-- After each error the catalog, the relations and the triggers are as before.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE err_src (id int PRIMARY KEY, v text);
INSERT INTO err_src VALUES (1, 'a'), (2, 'b');
SELECT pgtrickle.create_stream_table('err_st', 'SELECT id, v FROM err_src', refresh_mode => 'FULL');

-- Everything the extension may leave behind; must stay the same after every error below.
CREATE TEMP VIEW err_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pgtrickle.pgt_dependencies) AS dependencies,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) AS history_rows,
       (SELECT count(*) FROM pgtrickle.pgt_change_tracking) AS tracked_sources,
       (SELECT count(*) FROM pg_class
         WHERE relnamespace = 'pgtrickle_changes'::regnamespace) AS buffer_relations,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\_\_pgt\_%') AS triggers,
       (SELECT count(*) FROM pg_class
         WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'err\_new%') AS new_relations;
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- Invalid queries
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('err_new', 'SELEC id FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', '');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_missing');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT no_such_column FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_src; SELECT 1');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_src; DROP TABLE err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_src FOR UPDATE');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM (SELECT id FROM err_src FOR SHARE) s');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'INSERT INTO err_src VALUES (3, ''c'')');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'DELETE FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new',
    'WITH d AS (DELETE FROM err_src RETURNING id) SELECT id FROM d');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id INTO err_new_into FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'CREATE TABLE err_new_t (a int)');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1/0 AS x');
\echo :SQLSTATE
-- DIFFERENTIAL names the construct it cannot maintain and suggests FULL/AUTO.
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_src LIMIT 1',
                                     refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new',
    'SELECT id, lag(v) OVER (ORDER BY id) AS rn FROM err_src', refresh_mode => 'DIFFERENTIAL');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', refresh_mode => 'DIFFERENTIAL',
                                    query => 'SELECT DISTINCT ON (v) id, v FROM err_src');
\echo :SQLSTATE
SELECT * FROM err_state;
-- Nothing was executed by the rejected statements.
SELECT count(*) FROM err_src;

-------------------------------------------------------------------------------
-- Names
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('err_st', 'SELECT 1 AS x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('public.err_st', 'SELECT 1 AS x');
\echo :SQLSTATE
-- A regular table of the same name.
SELECT pgtrickle.create_stream_table('err_src', 'SELECT 1 AS x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_no_schema.err_new', 'SELECT 1 AS x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('a.b.c.d', 'SELECT 1 AS x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('pg_temp.err_new', 'SELECT 1 AS x');
\echo :SQLSTATE
CREATE TEMP TABLE err_temp_src (id int);
SELECT pgtrickle.create_stream_table('err_new', 'SELECT id FROM err_temp_src');
\echo :SQLSTATE
DROP TABLE err_temp_src;
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- Enumerated arguments: the error names the accepted values
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', refresh_mode => 'INCREMENTAL');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', refresh_mode => '');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', diamond_consistency => 'strict');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', diamond_schedule_policy => 'average');
\echo :SQLSTATE
SELECT * FROM err_state;

-- Values are trimmed and case-insensitive, and stored in their canonical spelling.
SELECT pgtrickle.create_stream_table('err_new_ok', 'SELECT 1 AS x', refresh_mode => ' full ',
    diamond_consistency => ' ATOMIC ', diamond_schedule_policy => E'\tSlowest\n');
SELECT pgtrickle.create_stream_table('err_new_ok2', 'SELECT 1 AS x', refresh_mode => 'Auto',
    diamond_consistency => 'None', diamond_schedule_policy => 'FASTEST');
SELECT pgt_name, refresh_mode, diamond_consistency, diamond_schedule_policy
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'err\_new\_ok%' ORDER BY 1;
SELECT pgtrickle.drop_stream_table('err_new_ok');
SELECT pgtrickle.drop_stream_table('err_new_ok2');

-------------------------------------------------------------------------------
-- Schedules
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => 'often');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '0s');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '-5m');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '5x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '61 * * * *');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '* * * *');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '@sometimes');
\echo :SQLSTATE
SET pg_trickle.min_schedule_seconds = 60;
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => '30s');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new_min', 'SELECT 1 AS x', schedule => '1m');
SELECT pgtrickle.drop_stream_table('err_new_min');
RESET pg_trickle.min_schedule_seconds;
SELECT * FROM err_state;

-- Accepted forms, stored normalized.
SELECT pgtrickle.create_stream_table('err_new_s1', 'SELECT 1 AS x', schedule => '30s');
SELECT pgtrickle.create_stream_table('err_new_s2', 'SELECT 1 AS x', schedule => '1h30m');
SELECT pgtrickle.create_stream_table('err_new_s3', 'SELECT 1 AS x', schedule => '90');
SELECT pgtrickle.create_stream_table('err_new_s4', 'SELECT 1 AS x', schedule => '*/5 * * * *');
SELECT pgtrickle.create_stream_table('err_new_s5', 'SELECT 1 AS x', schedule => ' @Daily ');
SELECT pgtrickle.create_stream_table('err_new_s6', 'SELECT 1 AS x', schedule => 'CALCULATED');
SELECT pgtrickle.create_stream_table('err_new_s7', 'SELECT 1 AS x', schedule => '2d');
SELECT pgt_name, schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'err\_new\_s%'
ORDER BY 1;
SELECT pgtrickle.drop_stream_table(n)
FROM unnest(ARRAY['err_new_s1', 'err_new_s2', 'err_new_s3', 'err_new_s4', 'err_new_s5',
                  'err_new_s6', 'err_new_s7']) n;

-------------------------------------------------------------------------------
-- Cycles
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('err_new', 'SELECT x FROM err_new');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('public.err_new', 'SELECT * FROM public.err_new');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new_down', 'SELECT id FROM err_st');
SELECT pgtrickle.alter_stream_table('err_st', query => 'SELECT id, ''x''::text AS v FROM err_new_down');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', query => 'SELECT id, v FROM err_st');
\echo :SQLSTATE
-- Both stream tables are unchanged.
SELECT pgt_name, original_query, status FROM pgtrickle.pgt_stream_tables ORDER BY pgt_name;
SELECT source_relid::regclass, source_type FROM pgtrickle.pgt_dependencies
ORDER BY source_relid::regclass::text;
SELECT pgtrickle.drop_stream_table('err_new_down');
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- NULL arguments
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table(NULL, 'SELECT 1 AS x');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', NULL);
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', schedule => NULL);
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', refresh_mode => NULL);
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('err_new', 'SELECT 1 AS x', initialize => NULL);
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table(NULL, schedule => '5m');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table(NULL);
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table(NULL);
\echo :SQLSTATE
SELECT pgtrickle.resume_stream_table(NULL);
\echo :SQLSTATE
SELECT * FROM pgtrickle.explain_st(NULL);
\echo :SQLSTATE
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- Stream tables that do not exist
-------------------------------------------------------------------------------
SELECT pgtrickle.refresh_stream_table('err_nothing');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_nothing', schedule => '5m');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('err_nothing');
\echo :SQLSTATE
SELECT pgtrickle.resume_stream_table('err_nothing');
\echo :SQLSTATE
SELECT * FROM pgtrickle.explain_st('err_nothing');
\echo :SQLSTATE
SELECT * FROM pgtrickle.get_refresh_history('err_nothing');
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('err_no_schema.err_st');
\echo :SQLSTATE
-- A relation that exists but is not a stream table.
SELECT pgtrickle.refresh_stream_table('err_src');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('err_src');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_src', schedule => '5m');
\echo :SQLSTATE
SELECT to_regclass('err_src') IS NOT NULL AS source_still_there;
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- alter_stream_table validates every argument before changing anything
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('err_st', schedule => '5m', refresh_mode => 'sometimes');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', schedule => 'never', refresh_mode => 'AUTO');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', status => 'ERROR');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', status => 'INITIALIZING');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', status => 'paused');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', diamond_consistency => 'full');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', diamond_schedule_policy => 'fast');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', schedule => '10m', query => 'SELECT nope FROM err_src');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('err_st', schedule => '10m', query => 'SELECT id FROM err_src FOR UPDATE');
\echo :SQLSTATE
SELECT pgt_name, schedule, refresh_mode, status, original_query, diamond_consistency,
       diamond_schedule_policy
FROM pgtrickle.pgt_stream_tables;
SELECT * FROM err_state;

-------------------------------------------------------------------------------
-- DML on the storage table is refused
-------------------------------------------------------------------------------
INSERT INTO err_st VALUES (9, 'z');
\echo :SQLSTATE
INSERT INTO err_st SELECT id + 10, v FROM err_src;
\echo :SQLSTATE
UPDATE err_st SET v = 'z';
\echo :SQLSTATE
UPDATE err_st SET v = 'z' WHERE false;
\echo :SQLSTATE
DELETE FROM err_st;
\echo :SQLSTATE
TRUNCATE err_st;
\echo :SQLSTATE
COPY err_st FROM stdin;
9	z
\.
\echo :SQLSTATE
MERGE INTO err_st t USING err_src s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET v = 'm';
\echo :SQLSTATE
SELECT * FROM err_st ORDER BY id;
-- Reading and COPY TO are fine.
COPY err_st TO stdout;
SELECT * FROM err_state;

SELECT pgtrickle.drop_stream_table('err_st');
DROP TABLE err_src;
SELECT * FROM err_state;

-- Column names starting with __pgt_ are reserved for pg_trickle's internal use.
SELECT pgtrickle.create_stream_table('err_reserved', 'SELECT 1 AS __pgt_x');
SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'err_reserved';
