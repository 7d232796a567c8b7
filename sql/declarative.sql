-- declarative: idempotent DDL for migration tools (create_stream_table_if_not_exists,
-- create_or_replace_stream_table) and bulk operations (refresh_stream_tables,
-- pause_stream_tables, resume_stream_tables); all transactional, privileges as for the
-- single-table functions.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE dcl_orders (id int PRIMARY KEY, customer text NOT NULL, amount int NOT NULL);
INSERT INTO dcl_orders VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'ann', 5);

-- What a stream table looks like: options, and a fingerprint of what changed (history rows,
-- storage relation, updated_at).
CREATE FUNCTION dcl_state(n text) RETURNS TABLE (schedule text, refresh_mode text, status text,
    diamond_consistency text, diamond_schedule_policy text, refreshes bigint, updated_at timestamptz)
LANGUAGE sql AS $$
    SELECT st.schedule, st.refresh_mode, st.status, st.diamond_consistency,
           st.diamond_schedule_policy,
           (SELECT count(*) FROM pgtrickle.pgt_refresh_history h WHERE h.pgt_id = st.pgt_id),
           st.updated_at
    FROM pgtrickle.pgt_stream_tables st WHERE st.pgt_name = n
$$;

-------------------------------------------------------------------------------
-- create_stream_table_if_not_exists
-------------------------------------------------------------------------------
-- Same argument names and defaults as create_stream_table.
SELECT p.proname, pg_get_function_arguments(p.oid) = (
           SELECT pg_get_function_arguments(c.oid) FROM pg_proc c
           WHERE c.oid = 'pgtrickle.create_stream_table'::regproc) AS same_arguments
FROM pg_proc p
WHERE p.pronamespace = 'pgtrickle'::regnamespace
  AND p.proname IN ('create_stream_table_if_not_exists', 'create_or_replace_stream_table')
ORDER BY 1;

SELECT pgtrickle.create_stream_table_if_not_exists('dcl_totals',
    'SELECT customer, sum(amount) AS total FROM dcl_orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'DIFFERENTIAL');
SELECT * FROM dcl_totals ORDER BY 1;
SELECT schedule, refresh_mode, status, refreshes FROM dcl_state('dcl_totals');
CREATE TEMP TABLE dcl_before AS SELECT * FROM dcl_state('dcl_totals');
-- Exists: NOTICE, nothing changes even with other arguments (like CREATE TABLE IF NOT EXISTS).
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_totals',
    'SELECT customer FROM dcl_orders', schedule => '5m', refresh_mode => 'FULL');
SELECT (SELECT row(s.*) FROM dcl_state('dcl_totals') s) = (SELECT row(b.*) FROM dcl_before b)
    AS unchanged;
-- Qualified and quoted names resolve like create_stream_table's.
SELECT pgtrickle.create_stream_table_if_not_exists('public."dcl_totals"', 'SELECT 1 AS x');
-- A relation of that name that is not a stream table: an error, not a silent skip.
CREATE TABLE dcl_plain (x int);
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_plain', 'SELECT 1 AS x');
-- Argument checks as for create_stream_table, before anything happens.
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_totals', 'SELECT 1 AS x',
    refresh_mode => 'SOMETIMES');
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_new', NULL);
-- Transactional: a rolled-back creation leaves nothing.
BEGIN;
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_rolled', 'SELECT id FROM dcl_orders');
SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'dcl_rolled';
ROLLBACK;
SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'dcl_rolled';
SELECT to_regclass('dcl_rolled');

-------------------------------------------------------------------------------
-- create_or_replace_stream_table
-------------------------------------------------------------------------------
-- Missing: created (initialize honoured).
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'SELECT id, customer FROM dcl_orders WHERE amount > 5', schedule => '1m',
    refresh_mode => 'FULL', initialize => false);
SELECT status, is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'dcl_big';
SELECT pgtrickle.refresh_stream_table('dcl_big');
DELETE FROM dcl_before;
INSERT INTO dcl_before SELECT * FROM dcl_state('dcl_big');
-- Same definition, other layout and comments: a no-op (no history row, no catalog update).
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'select id,   customer
       from dcl_orders -- big ones
      where amount > 5', schedule => ' 1M ', refresh_mode => 'full');
SELECT (SELECT row(s.*) FROM dcl_state('dcl_big') s) = (SELECT row(b.*) FROM dcl_before b)
    AS unchanged;
-- Options only: altered in place, no refresh, same relation.
SELECT 'dcl_big'::regclass::oid AS big_oid \gset
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'SELECT id, customer FROM dcl_orders WHERE amount > 5', schedule => '5m',
    refresh_mode => 'DIFFERENTIAL');
SELECT schedule, refresh_mode, refreshes FROM dcl_state('dcl_big');
SELECT 'dcl_big'::regclass::oid = :big_oid AS same_relation;
-- Omitted arguments take create_stream_table's defaults (declarative: the stream table ends up
-- as create_stream_table with these arguments would make it).
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'SELECT id, customer FROM dcl_orders WHERE amount > 5');
SELECT schedule, refresh_mode, refreshes FROM dcl_state('dcl_big');
-- A new query: replaced through the alter path (storage kept, columns follow, repopulated).
GRANT SELECT ON dcl_big TO PUBLIC;
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'SELECT id, customer, amount FROM dcl_orders WHERE amount >= 10');
SELECT * FROM dcl_big ORDER BY id;
SELECT 'dcl_big'::regclass::oid = :big_oid AS same_relation,
       has_table_privilege('public', 'dcl_big', 'SELECT') AS grant_kept;
SELECT original_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'dcl_big';
SELECT action, initiated_by FROM pgtrickle.pgt_refresh_history
WHERE pgt_id = (SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'dcl_big')
ORDER BY refresh_id DESC LIMIT 1;
-- The same text resolving to another table (search_path) is another query.
CREATE SCHEMA dcl_s;
CREATE TABLE dcl_s.dcl_orders (id int, customer text, amount int);
INSERT INTO dcl_s.dcl_orders VALUES (100, 'zed', 50);
SET search_path = dcl_s, public;
SELECT pgtrickle.create_or_replace_stream_table('public.dcl_big',
    'SELECT id, customer, amount FROM dcl_orders WHERE amount >= 10');
RESET search_path;
SELECT * FROM dcl_big ORDER BY id;
-- A suspended stream table stays suspended; its options still follow.
SELECT pgtrickle.alter_stream_table('dcl_big', status => 'SUSPENDED');
SELECT pgtrickle.create_or_replace_stream_table('public.dcl_big',
    'SELECT id, customer, amount FROM dcl_s.dcl_orders WHERE amount >= 10', schedule => '2m');
SELECT schedule, status FROM dcl_state('dcl_big');
SELECT pgtrickle.resume_stream_table('dcl_big');
-- Not a stream table; invalid arguments; a query DIFFERENTIAL cannot maintain.
SELECT pgtrickle.create_or_replace_stream_table('dcl_plain', 'SELECT 1 AS x');
SELECT pgtrickle.create_or_replace_stream_table('dcl_big', 'SELECT 1 AS x', schedule => 'never');
SELECT pgtrickle.create_or_replace_stream_table('dcl_big',
    'SELECT DISTINCT ON (customer) id FROM dcl_orders ORDER BY customer, id',
    refresh_mode => 'DIFFERENTIAL');
SELECT schedule, refresh_mode FROM dcl_state('dcl_big');
-- Transactional: a replacement rolled back leaves the old definition and rows.
BEGIN;
SELECT pgtrickle.create_or_replace_stream_table('dcl_big', 'SELECT 42 AS answer',
    refresh_mode => 'FULL');
SELECT * FROM dcl_big;
ROLLBACK;
SELECT * FROM dcl_big ORDER BY id;
-- Run twice, as a migration tool re-applies a script: the second run is a no-op.
SELECT pgtrickle.create_or_replace_stream_table('dcl_totals',
    'SELECT customer, sum(amount) AS total FROM dcl_orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'DIFFERENTIAL');
DELETE FROM dcl_before;
INSERT INTO dcl_before SELECT * FROM dcl_state('dcl_totals');
SELECT pgtrickle.create_or_replace_stream_table('dcl_totals',
    'SELECT customer, sum(amount) AS total FROM dcl_orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'DIFFERENTIAL');
SELECT (SELECT row(s.*) FROM dcl_state('dcl_totals') s) = (SELECT row(b.*) FROM dcl_before b)
    AS unchanged;

-------------------------------------------------------------------------------
-- Bulk operations
-------------------------------------------------------------------------------
-- A chain dcl_totals -> dcl_top: refreshing both in one call refreshes upstream first,
-- whatever the order of the list.
SELECT pgtrickle.create_stream_table('dcl_top',
    'SELECT customer FROM dcl_totals WHERE total > 10', schedule => '1m', refresh_mode => 'FULL');
SELECT * FROM dcl_top ORDER BY 1;
INSERT INTO dcl_orders VALUES (4, 'cat', 30);
SELECT pgtrickle.refresh_stream_tables(ARRAY['dcl_top', 'dcl_totals', 'dcl_top']);
SELECT * FROM dcl_top ORDER BY 1;
-- One unit: an error anywhere undoes every refresh of the call.
INSERT INTO dcl_orders VALUES (5, 'dan', 40);
SELECT pgtrickle.refresh_stream_tables(ARRAY['dcl_totals', 'dcl_top', 'dcl_nope']);
SELECT pgtrickle.alter_stream_table('dcl_top', status => 'SUSPENDED');
SELECT pgtrickle.refresh_stream_tables(ARRAY['dcl_totals', 'dcl_top']);
SELECT * FROM dcl_totals ORDER BY 1;
SELECT pgtrickle.resume_stream_table('dcl_top');
SELECT pgtrickle.refresh_stream_tables(NULL);
SELECT pgtrickle.refresh_stream_tables(ARRAY['dcl_top', NULL]);
SELECT pgtrickle.refresh_stream_tables('{}');

-- pause / resume: a list, or everything the caller owns; the count of tables changed.
SELECT pgtrickle.pause_stream_tables(ARRAY['dcl_top']);
SELECT pgtrickle.pause_stream_tables(ARRAY['dcl_top']);
SELECT pgtrickle.pause_stream_tables();
SELECT name, status FROM pgtrickle.pgt_status() ORDER BY 1;
SELECT pgtrickle.resume_stream_tables(ARRAY['dcl_big']);
SELECT pgtrickle.resume_stream_tables();
SELECT pgtrickle.resume_stream_tables();
SELECT name, status FROM pgtrickle.pgt_status() ORDER BY 1;
-- Transactional.
BEGIN;
SELECT pgtrickle.pause_stream_tables();
ROLLBACK;
SELECT count(*) FILTER (WHERE status = 'SUSPENDED') AS suspended FROM pgtrickle.pgt_status();
SELECT pgtrickle.pause_stream_tables(ARRAY['dcl_plain']);

-------------------------------------------------------------------------------
-- Privileges: a hostile role cannot replace, pause or refresh another role's stream tables,
-- and its query is never parsed as the victim (ownership is checked first).
-------------------------------------------------------------------------------
CREATE ROLE dcl_hostile;
CREATE ROLE dcl_victim;
CREATE SCHEMA dcl_h AUTHORIZATION dcl_hostile;
CREATE SCHEMA dcl_v AUTHORIZATION dcl_victim;
GRANT USAGE ON SCHEMA dcl_h, dcl_v TO PUBLIC;
CREATE TABLE dcl_h.calls (who name);
GRANT INSERT, SELECT ON dcl_h.calls TO PUBLIC;
ALTER TABLE dcl_h.calls OWNER TO dcl_hostile;
SET ROLE dcl_hostile;
-- "IMMUTABLE" (a lie): planning a query calling f(1) runs it and records who did.
-- The sequence counts every call, also those whose transaction rolled back.
CREATE SEQUENCE dcl_h.probe;
GRANT USAGE ON SEQUENCE dcl_h.probe TO PUBLIC;
CREATE FUNCTION dcl_h.record_call() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM nextval('dcl_h.probe');
    INSERT INTO dcl_h.calls VALUES (current_user);
    RETURN 1;
END $$;
CREATE FUNCTION dcl_h.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN dcl_h.record_call() * $1;
END $$;
RESET ROLE;
SET ROLE dcl_victim;
CREATE TABLE dcl_v.src (id int);
INSERT INTO dcl_v.src VALUES (1), (2);
SELECT pgtrickle.create_stream_table('dcl_v.st', 'SELECT id FROM dcl_v.src',
    schedule => '1m', refresh_mode => 'FULL');
RESET ROLE;
SET ROLE dcl_hostile;
-- Without CREATE on the schema: refused like CREATE OR REPLACE VIEW.
SELECT pgtrickle.create_or_replace_stream_table('dcl_v.st',
    'SELECT dcl_h.f(1) AS id FROM dcl_v.src');
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_v.st2', 'SELECT 1 AS id');
RESET ROLE;
GRANT CREATE ON SCHEMA dcl_v TO dcl_hostile;
SET ROLE dcl_hostile;
-- With CREATE on the schema: still not the owner, whether the query is new or the same.
SELECT pgtrickle.create_or_replace_stream_table('dcl_v.st',
    'SELECT dcl_h.f(1) AS id FROM dcl_v.src');
SELECT pgtrickle.create_or_replace_stream_table('dcl_v.st', 'SELECT id FROM dcl_v.src',
    schedule => '1m', refresh_mode => 'FULL');
-- if_not_exists skips an existing table whoever owns it (like CREATE TABLE IF NOT EXISTS),
-- without looking at the query.
SELECT pgtrickle.create_stream_table_if_not_exists('dcl_v.st',
    'SELECT dcl_h.f(1) AS id FROM dcl_v.src');
SELECT pgtrickle.pause_stream_tables(ARRAY['dcl_v.st']);
SELECT pgtrickle.resume_stream_tables(ARRAY['dcl_v.st']);
SELECT pgtrickle.refresh_stream_tables(ARRAY['dcl_v.st']);
-- "All" means all the caller owns: none here.
SELECT pgtrickle.pause_stream_tables();
RESET ROLE;
SELECT * FROM dcl_h.calls;
SELECT is_called AS hostile_query_ran FROM dcl_h.probe;
SELECT status, schedule, original_query FROM pgtrickle.pgt_stream_tables
WHERE pgt_schema = 'dcl_v';
-- The owner's own replacement runs the new query as the owner.
SET ROLE dcl_victim;
SELECT pgtrickle.create_or_replace_stream_table('dcl_v.st', 'SELECT id + 1 AS id FROM dcl_v.src',
    schedule => '1m', refresh_mode => 'FULL');
SELECT * FROM dcl_v.st ORDER BY 1;
SELECT pgtrickle.pause_stream_tables();
RESET ROLE;
SELECT name, status FROM pgtrickle.pgt_status() WHERE name LIKE 'dcl_v.%';

-- Clean up.
SELECT pgtrickle.drop_stream_table('dcl_v.st');
DROP SCHEMA dcl_h CASCADE;
DROP SCHEMA dcl_v CASCADE;
DROP ROLE dcl_hostile;
DROP ROLE dcl_victim;
SELECT pgtrickle.drop_stream_table('dcl_totals', "cascade" => true);
SELECT pgtrickle.drop_stream_table('dcl_big');
DROP SCHEMA dcl_s CASCADE;
DROP TABLE dcl_orders, dcl_plain;
DROP FUNCTION dcl_state(text);
