-- pg_trickle 0.1.0 -> 0.2.0 upgrade script (ALTER EXTENSION pg_trickle UPDATE TO '0.2.0').
-- Every catalog change made in 0.2.0 appears twice: in pg_trickle--0.2.0.sql (fresh installs)
-- and here (upgrades); the ext_update test checks that both give identical catalogs.

\echo Use "ALTER EXTENSION pg_trickle UPDATE TO '0.2.0'" to load this file. \quit

SET LOCAL search_path = pg_catalog, pg_temp;

-------------------------------------------------------------------------------
-- Backup and restore (docs/operations.md "Backup and restore")
-------------------------------------------------------------------------------
-- pg_dump dumps pgt_stream_tables (a configuration table) with its relation OIDs, parse tree and
-- frontier, none of which mean anything in the restored database. A row inserted by anything
-- but the extension (a restore: COPY or INSERT of a dumped row, whose created_at lies before
-- the inserting transaction) is rebound: pgt_relid is resolved again from pgt_schema and
-- pgt_name, and needs_rebind makes the first scheduler tick or refresh after the restore analyze
-- defining_query again (fully qualified), record the dependencies, attach fresh change capture
-- and rebuild it FULL (the change buffers and the frontier are not carried over).
ALTER TABLE pgtrickle.pgt_stream_tables
    ADD COLUMN needs_rebind boolean NOT NULL DEFAULT false;
GRANT SELECT (needs_rebind) ON pgtrickle.pgt_stream_tables TO PUBLIC;

-- A restored stream table needs a scheduler in its database, like a newly created one (the probe
-- after CREATE EXTENSION may have run before the catalog rows were restored).
CREATE FUNCTION pgtrickle._request_scheduler()
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_request_scheduler';
-- Called by the restore trigger, which runs as the role inserting into the catalog (only its
-- owner may): other roles must not make the launcher start schedulers.
REVOKE ALL ON FUNCTION pgtrickle._request_scheduler() FROM PUBLIC;
COMMENT ON FUNCTION pgtrickle._request_scheduler() IS
    'asks the pg_trickle launcher for a scheduler in this database at commit';

CREATE FUNCTION pgtrickle._on_catalog_restore()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    IF TG_TABLE_NAME = 'pgt_dependencies' THEN
        -- The dependencies of a restored row are recorded again when it is rebound.
        IF EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s
                   WHERE s.pgt_id = NEW.pgt_id AND NOT s.needs_rebind) THEN
            RETURN NEW;
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.created_at >= now() AND NOT NEW.needs_rebind THEN
        RETURN NEW; -- written by the extension
    END IF;
    rel := to_regclass(quote_ident(NEW.pgt_schema) || '.' || quote_ident(NEW.pgt_name));
    IF rel IS NULL THEN
        RAISE WARNING 'stream table %.% is not restored: its table does not exist',
            quote_ident(NEW.pgt_schema), quote_ident(NEW.pgt_name)
            USING HINT = 'Restore the table first (a dump with --schema must include its schema).';
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s
               WHERE s.pgt_relid = rel
                  OR (s.pgt_schema, s.pgt_name) = (NEW.pgt_schema, NEW.pgt_name)) THEN
        RAISE WARNING 'stream table %.% is not restored: it is a stream table already',
            quote_ident(NEW.pgt_schema), quote_ident(NEW.pgt_name);
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables s WHERE s.pgt_id = NEW.pgt_id) THEN
        NEW.pgt_id := nextval('pgtrickle.pgt_stream_tables_pgt_id_seq');
    END IF;
    -- The sequence is not dumped: new stream tables must not take a restored id.
    PERFORM setval('pgtrickle.pgt_stream_tables_pgt_id_seq',
                   greatest(NEW.pgt_id, (SELECT last_value FROM pgtrickle.pgt_stream_tables_pgt_id_seq)));
    NEW.pgt_relid := rel;
    NEW.needs_rebind := true;
    NEW.frontier := NULL;
    NEW.needs_reinit := true;
    NEW.reinit_reason := 'restored from a dump: change buffers and frontier are not carried over';
    NEW.reinit_requested_at := now();
    PERFORM pgtrickle._request_scheduler();
    RETURN NEW;
END
$$;

CREATE TRIGGER pgt_restore BEFORE INSERT ON pgtrickle.pgt_stream_tables
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._on_catalog_restore();
CREATE TRIGGER pgt_restore BEFORE INSERT ON pgtrickle.pgt_dependencies
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._on_catalog_restore();
-- Also when a restore runs with session_replication_role = replica (--disable-triggers).
ALTER TABLE pgtrickle.pgt_stream_tables ENABLE ALWAYS TRIGGER pgt_restore;
ALTER TABLE pgtrickle.pgt_dependencies ENABLE ALWAYS TRIGGER pgt_restore;

-- While a restore is still creating triggers (the restored capture and DML-guard triggers come
-- after the rows), the scheduler does not rebind: it waits until no CREATE TRIGGER has run for
-- a few seconds since the last one (reinit_requested_at of the pending rows).
CREATE FUNCTION pgtrickle._on_restore_ddl()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE pgtrickle.pgt_stream_tables SET reinit_requested_at = clock_timestamp()
    WHERE needs_rebind;
END
$$;
REVOKE ALL ON FUNCTION pgtrickle._on_restore_ddl() FROM PUBLIC;
CREATE EVENT TRIGGER pgtrickle_restore_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION pgtrickle._on_restore_ddl();
ALTER EVENT TRIGGER pgtrickle_restore_ddl ENABLE ALWAYS;

-- stream_tables_info keeps every catalog column: needs_rebind is appended (CREATE OR REPLACE
-- VIEW can only add columns at the end).
CREATE OR REPLACE VIEW pgtrickle.stream_tables_info AS
SELECT st.pgt_id, st.pgt_relid, st.pgt_schema, st.pgt_name, st.defining_query,
       st.original_query, st.defining_tree, st.output_columns, st.schedule, st.refresh_mode,
       st.status, st.is_populated, st.data_timestamp, st.frontier, st.last_refresh_at,
       st.consecutive_errors, st.needs_reinit, st.reinit_reason, st.reinit_requested_at,
       st.diamond_consistency, st.diamond_schedule_policy, st.group_epoch,
       st.last_error_message, st.last_error_at, st.created_at, st.updated_at,
       now() - st.data_timestamp AS staleness,
       coalesce(st.status = 'ACTIVE'
                AND now() - coalesce(st.data_timestamp, st.created_at)
                    > make_interval(secs => 2 * pgtrickle._schedule_period(st.schedule)),
                false) AS stale,
       st.needs_rebind
FROM pgtrickle.pgt_stream_tables raw
CROSS JOIN LATERAL pgtrickle._hide_details(raw) st;

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

-------------------------------------------------------------------------------
-- Issue 12: the registry of supported constructs
-------------------------------------------------------------------------------

-- The SQL constructs of the DIFFERENTIAL engine: maintained (operator) or refused (reason), from
-- the registry src/core/constructs.cpp (docs/sql-reference.md's support table is generated from it).
CREATE FUNCTION pgtrickle.supported_constructs()
RETURNS TABLE(category text, construct text, differential text, operator text, refusal text,
              source_file text, method text, example text)
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_supported_constructs';

-------------------------------------------------------------------------------
-- Planner estimates of captured change sets (issue 10): _pending_changes is estimated at the size
-- of the source's change buffer instead of the default 1,000 rows.
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle._pending_changes_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'pgtrickle_pending_changes_support';
COMMENT ON FUNCTION pgtrickle._pending_changes_support(internal) IS
    'planner support of _pending_changes: estimates its rows from the change buffer''s size';

ALTER FUNCTION pgtrickle._pending_changes(oid, text, text, text)
    SUPPORT pgtrickle._pending_changes_support;

-------------------------------------------------------------------------------
-- Change capture in C (issue 10): the capture triggers of tables tracked before this update keep
-- running their PL/pgSQL capture_<oid> functions until capture is regenerated (an ALTER TABLE of
-- the table), which replaces both with triggers running pgtrickle._capture.
-------------------------------------------------------------------------------

-- Change capture (docs/architecture.md, "Change capture"): every capture trigger runs this with
-- its change buffer's name as argument. No SET clause: a function with one is called through a
-- wrapper that saves and restores settings on every firing, and the buffer name is qualified.
-- Not executable by PUBLIC: CREATE TRIGGER checks EXECUTE, firing does not.
CREATE FUNCTION pgtrickle._capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgtrickle_capture';
REVOKE ALL ON FUNCTION pgtrickle._capture() FROM PUBLIC;
COMMENT ON FUNCTION pgtrickle._capture() IS
    'capture trigger: appends the statement''s changes to the change buffer named by its argument';
