-- pg_trickle 0.1.0 -> 0.2.0 upgrade script (ALTER EXTENSION pg_trickle UPDATE TO '0.2.0').
-- Every catalog change made in 0.2.0 appears twice: in pg_trickle--0.2.0.sql (fresh installs)
-- and here (upgrades); the ext_update test checks that both give identical catalogs.

\echo Use "ALTER EXTENSION pg_trickle UPDATE TO '0.2.0'" to load this file. \quit

SET LOCAL search_path = pg_catalog, pg_temp;

-------------------------------------------------------------------------------
-- 0.2.0: declarative DDL, bulk operations, the stream_tables overview and pending_changes
-- (docs/sql-reference.md, docs/operations.md)
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle.create_stream_table_if_not_exists(
    name text,
    query text,
    schedule text DEFAULT 'calculated',
    refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL,
    diamond_schedule_policy text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_create_stream_table_if_not_exists';
COMMENT ON FUNCTION pgtrickle.create_stream_table_if_not_exists(text, text, text, text, boolean,
    text, text) IS 'create_stream_table unless a stream table of that name exists (NOTICE)';

CREATE FUNCTION pgtrickle.create_or_replace_stream_table(
    name text,
    query text,
    schedule text DEFAULT 'calculated',
    refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL,
    diamond_schedule_policy text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_create_or_replace_stream_table';
COMMENT ON FUNCTION pgtrickle.create_or_replace_stream_table(text, text, text, text, boolean,
    text, text) IS 'creates the stream table, or brings an existing one to these arguments';

CREATE FUNCTION pgtrickle.refresh_stream_tables(names text[])
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_refresh_stream_tables';
COMMENT ON FUNCTION pgtrickle.refresh_stream_tables(text[]) IS
    'refreshes the named stream tables in one transaction, upstream first';

CREATE FUNCTION pgtrickle.pause_stream_tables(names text[] DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_pause_stream_tables';
COMMENT ON FUNCTION pgtrickle.pause_stream_tables(text[]) IS
    'suspends the named stream tables (NULL: all the caller owns); returns how many changed';

CREATE FUNCTION pgtrickle.resume_stream_tables(names text[] DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_resume_stream_tables';
COMMENT ON FUNCTION pgtrickle.resume_stream_tables(text[]) IS
    'resumes the named suspended stream tables (NULL: all the caller owns); returns how many';

CREATE FUNCTION pgtrickle.pending_changes()
RETURNS TABLE(name text, source text, pending_rows bigint, buffer_rows bigint)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_pending_change_counts';
COMMENT ON FUNCTION pgtrickle.pending_changes() IS
    'per stream table and captured source: change rows not yet consumed, and rows in the buffer '
    '(counts only for the owner and pg_read_all_stats)';

CREATE VIEW pgtrickle.stream_tables AS
SELECT quote_ident(i.pgt_schema) || '.' || quote_ident(i.pgt_name) AS name,
       i.status,
       i.refresh_mode AS mode,
       i.schedule,
       (i.status = 'ACTIVE' AND i.is_populated AND i.consecutive_errors = 0
        AND coalesce(now() - coalesce(i.last_refresh_at, i.data_timestamp, i.created_at)
                     <= make_interval(secs => 2 * pgtrickle._schedule_period(i.schedule)),
                     true)) AS fresh,
       i.staleness,
       i.data_timestamp,
       i.last_refresh_at,
       h.action AS last_action,
       h.status AS last_status,
       h.end_time - h.start_time AS last_duration,
       i.consecutive_errors,
       i.needs_reinit,
       g.group_id,
       i.group_epoch
FROM pgtrickle.stream_tables_info i
LEFT JOIN LATERAL (
    SELECT r.action, r.status, r.start_time, r.end_time
    FROM pgtrickle.pgt_refresh_history r
    WHERE r.pgt_id = i.pgt_id
    ORDER BY r.refresh_id DESC
    LIMIT 1) h ON true
LEFT JOIN pgtrickle.diamond_groups() g
  ON g.member_schema = i.pgt_schema AND g.member_name = i.pgt_name
ORDER BY i.pgt_schema, i.pgt_name;
COMMENT ON VIEW pgtrickle.stream_tables IS
    'one line per stream table: is it fresh, how stale, its last refresh, its group';
GRANT SELECT ON pgtrickle.stream_tables TO PUBLIC;
