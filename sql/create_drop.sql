-- create_drop: create, query, refresh and drop stream tables in FULL and AUTO mode (SPEC §2, §4,
-- §5). The scheduler is off (tests/regress.conf): every refresh here is manual.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- What a stream table leaves in the database besides its own storage table.
CREATE TEMP VIEW cd_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pgtrickle.pgt_dependencies) AS dependencies,
       (SELECT count(*) FROM pgtrickle.pgt_refresh_history) AS history_rows,
       (SELECT count(*) FROM pgtrickle.pgt_change_tracking) AS tracked_sources,
       (SELECT count(*) FROM pg_class
         WHERE relnamespace = 'pgtrickle_changes'::regnamespace AND relkind = 'r') AS buffers,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\_\_pgt\_%') AS triggers;

CREATE TABLE cd_orders (
    id       int PRIMARY KEY,
    customer text NOT NULL,
    amount   numeric(10,2) NOT NULL,
    placed   date NOT NULL
) WITH (autovacuum_enabled = false);  -- AUTO's change-ratio check reads reltuples
INSERT INTO cd_orders VALUES
    (1, 'alice', 10.50, '2024-01-01'),
    (2, 'bob',   20.00, '2024-01-02'),
    (3, 'alice',  5.25, '2024-01-03'),
    (4, 'carol', 20.00, '2024-01-03');

-------------------------------------------------------------------------------
-- FULL mode
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('cd_totals',
    'SELECT customer, sum(amount) AS total, count(*) AS n FROM cd_orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'FULL');
SELECT * FROM cd_totals ORDER BY customer;

SELECT pgt_schema, pgt_name, original_query, defining_query, schedule, refresh_mode, status,
       is_populated, data_timestamp IS NOT NULL AS has_data_timestamp,
       last_refresh_at IS NOT NULL AS has_last_refresh, frontier IS NOT NULL AS has_frontier,
       consecutive_errors, needs_reinit, diamond_consistency, diamond_schedule_policy,
       group_epoch, last_error_message, pgt_relid = 'cd_totals'::regclass AS relid_matches
FROM pgtrickle.pgt_stream_tables;

-- The initial population is recorded in the history.
SELECT action, status, initiated_by, rows_inserted, rows_deleted, error_message,
       end_time >= start_time AS ended_after_start
FROM pgtrickle.get_refresh_history('cd_totals');

-- The storage table: columns and types from the analyzed query, a DML guard trigger, no
-- visible internal columns; it is an ordinary heap table.
SELECT relkind, relpersistence FROM pg_class WHERE oid = 'cd_totals'::regclass;
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'cd_totals'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'cd_totals'::regclass ORDER BY 1;

-- The source is captured by statement triggers (and a row trigger, named after the source's
-- oid, under session_replication_role = replica).
SELECT replace(tgname, tgrelid::text, '<oid>') AS tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'cd_orders'::regclass ORDER BY 1;
SELECT source_relid = 'cd_orders'::regclass AS is_cd_orders, capture_method,
       buffer_schema, cardinality(consumers) AS consumers
FROM pgtrickle.pgt_change_tracking;

-- Source changes become visible at the next refresh, not before.
INSERT INTO cd_orders VALUES (5, 'dave', 1.00, '2024-01-04');
UPDATE cd_orders SET amount = 11.50 WHERE id = 1;
DELETE FROM cd_orders WHERE id = 2;
SELECT * FROM cd_totals ORDER BY customer;
SELECT pgtrickle.refresh_stream_table('cd_totals');
SELECT * FROM cd_totals ORDER BY customer;
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_totals', 1);

-- The rows equal the query's result as a multiset.
SELECT (SELECT count(*) FROM (
          (SELECT * FROM cd_totals EXCEPT ALL
           SELECT customer, sum(amount), count(*) FROM cd_orders GROUP BY customer)
          UNION ALL
          (SELECT customer, sum(amount), count(*) FROM cd_orders GROUP BY customer
           EXCEPT ALL SELECT * FROM cd_totals)) d) AS differences;

-- A refresh without source changes is a NO_DATA pass: last_refresh_at moves, data_timestamp
-- does not.
CREATE TEMP TABLE cd_before AS
SELECT data_timestamp, last_refresh_at FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cd_totals';
SELECT pgtrickle.refresh_stream_table('cd_totals');
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_totals', 1);
SELECT st.data_timestamp = b.data_timestamp AS data_timestamp_unchanged,
       st.last_refresh_at > b.last_refresh_at AS last_refresh_advanced
FROM pgtrickle.pgt_stream_tables st, cd_before b WHERE st.pgt_name = 'cd_totals';
DROP TABLE cd_before;

-- TRUNCATE of a source is captured.
TRUNCATE cd_orders;
SELECT pgtrickle.refresh_stream_table('cd_totals');
SELECT count(*) FROM cd_totals;
SELECT action, status, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_totals', 1);
INSERT INTO cd_orders VALUES
    (1, 'alice', 10.50, '2024-01-01'),
    (2, 'bob',   20.00, '2024-01-02');
SELECT pgtrickle.refresh_stream_table('cd_totals');
SELECT * FROM cd_totals ORDER BY customer;

-- Users may index, grant on and read the storage table; refreshes keep working.
CREATE UNIQUE INDEX cd_totals_customer ON cd_totals (customer);
CREATE ROLE cd_reader;
GRANT SELECT ON cd_totals TO cd_reader;
INSERT INTO cd_orders VALUES (3, 'alice', 1.00, '2024-01-05');
SELECT pgtrickle.refresh_stream_table('cd_totals');
SET ROLE cd_reader;
SELECT * FROM cd_totals ORDER BY customer;
RESET ROLE;
REVOKE SELECT ON cd_totals FROM cd_reader;
DROP ROLE cd_reader;

-------------------------------------------------------------------------------
-- AUTO mode (the default): DIFFERENTIAL when the query allows it, else FULL
-------------------------------------------------------------------------------
-- The table is tiny, so any change is a large share of it: allow every share here (the fallback
-- above pg_trickle.differential_max_change_ratio is checked just below).
SET pg_trickle.differential_max_change_ratio = 1.0;
SELECT pgtrickle.create_stream_table('cd_auto', 'SELECT id, customer FROM cd_orders WHERE amount > 5');
SELECT refresh_mode, schedule, status, is_populated FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'cd_auto';
SELECT property, value FROM pgtrickle.explain_st('cd_auto')
WHERE property IN ('refresh_mode', 'effective_mode', 'differential_support');
SELECT * FROM cd_auto ORDER BY id;
DELETE FROM cd_orders WHERE id = 2;
INSERT INTO cd_orders VALUES (4, 'erin', 99.00, '2024-01-06');
SELECT pgtrickle.refresh_stream_table('cd_auto');
SELECT * FROM cd_auto ORDER BY id;
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_auto') ORDER BY refresh_id;
-- Above the ratio (2 pending change rows on a 3-row table, default 0.15), AUTO refreshes FULL.
RESET pg_trickle.differential_max_change_ratio;
INSERT INTO cd_orders VALUES (5, 'fred', 50.00, '2024-01-08');
DELETE FROM cd_orders WHERE id = 5;
SELECT value AS effective_mode FROM pgtrickle.explain_st('cd_auto') WHERE property = 'effective_mode';
SELECT pgtrickle.refresh_stream_table('cd_auto');
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('cd_auto', 1);

-- A query DIFFERENTIAL cannot maintain falls back to FULL.
SELECT pgtrickle.create_stream_table('cd_auto_full',
    'SELECT id, customer, ntile(2) OVER (ORDER BY id) AS rk FROM cd_orders');
SELECT property, value FROM pgtrickle.explain_st('cd_auto_full')
WHERE property IN ('refresh_mode', 'effective_mode', 'mode_reason', 'differential_support');
INSERT INTO cd_orders VALUES (0, 'first', 1.00, '2024-01-07');
SELECT pgtrickle.refresh_stream_table('cd_auto_full');
SELECT * FROM cd_auto_full ORDER BY id;
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_auto_full') ORDER BY refresh_id;
SELECT pgtrickle.drop_stream_table('cd_auto_full');
DELETE FROM cd_orders WHERE id = 0;

-- Two stream tables share the capture of one source.
SELECT cardinality(consumers) AS consumers FROM pgtrickle.pgt_change_tracking;

-- Duplicates count: a stream table is a multiset like its query.
CREATE TABLE cd_dups (v int);
INSERT INTO cd_dups VALUES (1), (1), (1), (2);
SELECT pgtrickle.create_stream_table('cd_dup_st', 'SELECT v FROM cd_dups', refresh_mode => 'FULL');
SELECT v, count(*) FROM cd_dup_st GROUP BY v ORDER BY v;
DELETE FROM cd_dups WHERE v = 2;
INSERT INTO cd_dups VALUES (1);
SELECT pgtrickle.refresh_stream_table('cd_dup_st');
SELECT v, count(*) FROM cd_dup_st GROUP BY v ORDER BY v;
SELECT pgtrickle.drop_stream_table('cd_dup_st');
DROP TABLE cd_dups;

-------------------------------------------------------------------------------
-- initialize => false
-------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('cd_later', 'SELECT id, amount FROM cd_orders',
                                     refresh_mode => 'FULL', initialize => false);
SELECT status, is_populated, data_timestamp IS NULL AS no_data_timestamp,
       last_refresh_at IS NULL AS never_refreshed
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cd_later';
SELECT count(*) FROM cd_later;
SELECT count(*) AS history_rows FROM pgtrickle.get_refresh_history('cd_later');
SELECT pgtrickle.refresh_stream_table('cd_later');
SELECT status, is_populated, data_timestamp IS NOT NULL AS has_data_timestamp
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cd_later';
SELECT * FROM cd_later ORDER BY id;
SELECT action, status, initiated_by, rows_inserted, rows_deleted
FROM pgtrickle.get_refresh_history('cd_later');
SELECT pgtrickle.drop_stream_table('cd_later');

-------------------------------------------------------------------------------
-- Column types come from the analyzed query
-------------------------------------------------------------------------------
CREATE TABLE cd_types (
    i   int,
    b   bigint,
    s   smallint,
    n   numeric(12,3),
    vc  varchar(20),
    c   char(3),
    t   text COLLATE "C",
    ts  timestamptz,
    arr int[],
    j   jsonb,
    bo  boolean
);
INSERT INTO cd_types VALUES (1, 2, 3, 4.5, 'x', 'abc', 'z', '2024-01-01 00:00:00+00', '{1,2}', '{"a": 1}', true);
SELECT pgtrickle.create_stream_table('cd_typed',
    'SELECT i, b, s, n, vc, c, t, ts, arr, j, bo, i + b AS sum_ib, n * 2 AS n2, count(*) OVER () AS cnt,
            vc::text || ''!'' AS bang, NULL::date AS nothing, 1 AS one, ''lit'' AS lit, i::numeric(5,1) AS cast_n
     FROM cd_types', refresh_mode => 'FULL');
SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
       collation_name
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'cd_typed'
ORDER BY ordinal_position;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'cd_typed'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT * FROM cd_typed;
SELECT pgtrickle.drop_stream_table('cd_typed');
DROP TABLE cd_types;

-- Duplicate output column names are rejected like in CREATE TABLE AS.
SELECT pgtrickle.create_stream_table('cd_dupcol', 'SELECT 1 AS a, 2 AS a');
\echo :SQLSTATE
SELECT to_regclass('cd_dupcol') IS NULL AS no_table;

-------------------------------------------------------------------------------
-- Target schema: explicit, or current_schema() like CREATE TABLE
-------------------------------------------------------------------------------
CREATE SCHEMA cd_app;
CREATE SCHEMA cd_other;
SELECT pgtrickle.create_stream_table('cd_app.named', 'SELECT id FROM public.cd_orders');
SET search_path = cd_other, cd_app, public;
SELECT current_schema();
SELECT pgtrickle.create_stream_table('unqualified', 'SELECT id FROM cd_orders');
-- Unqualified names in the query resolve through the caller's search_path and are stored
-- schema-qualified.
SELECT pgt_schema, pgt_name, defining_query FROM pgtrickle.pgt_stream_tables
WHERE pgt_name IN ('named', 'unqualified') ORDER BY pgt_schema;
SELECT pgtrickle.refresh_stream_table('unqualified');
SELECT pgtrickle.refresh_stream_table('named');
SELECT count(*) FROM cd_other.unqualified;
SELECT count(*) FROM cd_app.named;
RESET search_path;
-- A refresh does not depend on the caller's search_path.
SET search_path = cd_app;
INSERT INTO public.cd_orders VALUES (10, 'zed', 1.00, '2024-02-01');
SELECT pgtrickle.refresh_stream_table('cd_other.unqualified');
RESET search_path;
SELECT count(*) FROM cd_other.unqualified;
SELECT pgtrickle.drop_stream_table('cd_other.unqualified');
SELECT pgtrickle.drop_stream_table('cd_app.named');
DROP SCHEMA cd_app;
DROP SCHEMA cd_other;

-------------------------------------------------------------------------------
-- drop_stream_table removes the storage table, the catalog rows and unneeded capture
-------------------------------------------------------------------------------
SELECT * FROM cd_state;
SELECT pgtrickle.drop_stream_table('cd_auto');
SELECT to_regclass('cd_auto') IS NULL AS table_gone;
-- cd_totals still reads cd_orders: its capture stays.
SELECT * FROM cd_state;
SELECT replace(tgname, tgrelid::text, '<oid>') AS tgname FROM pg_trigger
WHERE tgrelid = 'cd_orders'::regclass ORDER BY 1;
SELECT pgtrickle.drop_stream_table('cd_totals');
SELECT to_regclass('cd_totals') IS NULL AS table_gone;
SELECT * FROM cd_state;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'cd_orders'::regclass ORDER BY 1;

-- A name can be reused after a drop.
SELECT pgtrickle.create_stream_table('cd_totals', 'SELECT count(*) AS n FROM cd_orders');
SELECT * FROM cd_totals;
SELECT pgtrickle.drop_stream_table('cd_totals');

DROP TABLE cd_orders;
SELECT * FROM cd_state;
