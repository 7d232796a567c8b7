-- pg_trickle 0.2.0 install script: schemas, catalog tables, views and the SQL API.
-- Every object is schema-qualified and every function pins its search_path.

\echo Use "CREATE EXTENSION pg_trickle" to load this file. \quit

SET LOCAL search_path = pg_catalog, pg_temp;

-- Schema pgtrickle is created by CREATE EXTENSION (control file: schema = pgtrickle) and
-- belongs to the extension.
GRANT USAGE ON SCHEMA pgtrickle TO PUBLIC;
COMMENT ON SCHEMA pgtrickle IS 'pg_trickle catalog and SQL API';

CREATE SCHEMA pgtrickle_changes;
REVOKE ALL ON SCHEMA pgtrickle_changes FROM PUBLIC;
COMMENT ON SCHEMA pgtrickle_changes IS 'pg_trickle change buffers (not readable by PUBLIC)';

-------------------------------------------------------------------------------
-- Catalog (§3.1)
-------------------------------------------------------------------------------

CREATE TABLE pgtrickle.pgt_stream_tables (
    pgt_id                  bigserial PRIMARY KEY,
    pgt_relid               oid NOT NULL UNIQUE,
    pgt_schema              text NOT NULL,
    pgt_name                text NOT NULL,
    defining_query          text NOT NULL,
    original_query          text NOT NULL,
    defining_tree           text NOT NULL,
    output_columns          text[] NOT NULL,
    schedule                text NOT NULL,
    refresh_mode            text NOT NULL
        CHECK (refresh_mode IN ('FULL', 'DIFFERENTIAL', 'AUTO')),
    status                  text NOT NULL DEFAULT 'INITIALIZING'
        CHECK (status IN ('INITIALIZING', 'ACTIVE', 'SUSPENDED', 'ERROR')),
    is_populated            boolean NOT NULL DEFAULT false,
    data_timestamp          timestamptz,
    frontier                jsonb,
    last_refresh_at         timestamptz,
    consecutive_errors      integer NOT NULL DEFAULT 0 CHECK (consecutive_errors >= 0),
    needs_reinit            boolean NOT NULL DEFAULT false,
    -- Why needs_reinit is set, and when it was last requested (a refresh clears the request
    -- it rebuilt for, never one made after it read the catalog).
    reinit_reason           text,
    reinit_requested_at     timestamptz,
    diamond_consistency     text NOT NULL
        CHECK (diamond_consistency IN ('none', 'atomic')),
    diamond_schedule_policy text NOT NULL
        CHECK (diamond_schedule_policy IN ('fastest', 'slowest')),
    group_epoch             bigint NOT NULL DEFAULT 0 CHECK (group_epoch >= 0),
    last_error_message      text,
    last_error_at           timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pgt_schema, pgt_name)
);
COMMENT ON TABLE pgtrickle.pgt_stream_tables IS 'one row per stream table';

CREATE TABLE pgtrickle.pgt_dependencies (
    pgt_id       bigint NOT NULL
        REFERENCES pgtrickle.pgt_stream_tables (pgt_id) ON DELETE CASCADE,
    source_relid oid NOT NULL,
    source_type  text NOT NULL
        CHECK (source_type IN ('TABLE', 'STREAM_TABLE', 'VIEW', 'MATVIEW', 'FOREIGN_TABLE')),
    columns_used text[],
    PRIMARY KEY (pgt_id, source_relid)
);
CREATE INDEX pgt_dependencies_source_idx ON pgtrickle.pgt_dependencies (source_relid);
COMMENT ON TABLE pgtrickle.pgt_dependencies IS 'sources read by each stream table';

CREATE TABLE pgtrickle.pgt_refresh_history (
    refresh_id     bigserial PRIMARY KEY,
    pgt_id         bigint NOT NULL
        REFERENCES pgtrickle.pgt_stream_tables (pgt_id) ON DELETE CASCADE,
    data_timestamp timestamptz,
    start_time     timestamptz NOT NULL,
    end_time       timestamptz,
    action         text NOT NULL
        CHECK (action IN ('NO_DATA', 'FULL', 'DIFFERENTIAL', 'REINITIALIZE')),
    status         text NOT NULL
        CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED', 'ROLLED_BACK', 'SKIPPED')),
    rows_inserted  bigint,
    rows_deleted   bigint,
    error_message  text,
    initiated_by   text NOT NULL CHECK (initiated_by IN ('SCHEDULER', 'MANUAL', 'INITIAL')),
    group_id       integer,
    group_epoch    bigint
);
CREATE INDEX pgt_refresh_history_pgt_idx
    ON pgtrickle.pgt_refresh_history (pgt_id, refresh_id DESC);
CREATE INDEX pgt_refresh_history_running_idx
    ON pgtrickle.pgt_refresh_history (status) WHERE status = 'RUNNING';
COMMENT ON TABLE pgtrickle.pgt_refresh_history IS 'one row per refresh attempt';

CREATE TABLE pgtrickle.pgt_change_tracking (
    source_relid   oid PRIMARY KEY,
    capture_method text NOT NULL DEFAULT 'TRIGGER' CHECK (capture_method IN ('TRIGGER')),
    buffer_schema  text NOT NULL,
    buffer_name    text NOT NULL,
    consumers      bigint[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- source attnums of the buffer's data columns (after __pgt_xid, __pgt_action), in order
    captured_attnums smallint[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE pgtrickle.pgt_change_tracking IS 'one row per source with change capture';

-- The catalog is readable by everyone (like pg_class); only the extension writes it. Failure
-- messages may hold data values: only the owner and pg_read_all_stats members read them, through
-- stream_tables_info and refresh_history (docs/security.md).
GRANT SELECT ON pgtrickle.pgt_stream_tables, pgtrickle.pgt_dependencies,
    pgtrickle.pgt_refresh_history, pgtrickle.pgt_change_tracking TO PUBLIC;
DO $$
DECLARE
    t text;
    hidden text;
    cols text;
BEGIN
    FOR t, hidden IN VALUES ('pgt_stream_tables', 'last_error_message'),
                            ('pgt_refresh_history', 'error_message') LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
        FROM pg_attribute WHERE attrelid = ('pgtrickle.' || t)::regclass AND attnum > 0
        AND NOT attisdropped AND attname <> hidden;
        EXECUTE format('REVOKE SELECT ON pgtrickle.%I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT (%s) ON pgtrickle.%I TO PUBLIC', cols, t);
    END LOOP;
END $$;

-- Whether the current user may see a stream table's failure messages and what its change
-- buffers hold: a member of the owning role (superusers included) or of pg_read_all_stats, as
-- pg_stat_activity shows other roles' queries only to them.
CREATE FUNCTION pgtrickle._sees_details(relid oid)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_has_role(c.relowner, 'USAGE'), false)
           OR pg_has_role('pg_read_all_stats', 'USAGE')
    FROM pg_class c WHERE c.oid = relid
$$;

CREATE FUNCTION pgtrickle._hide_details(st pgtrickle.pgt_stream_tables)
RETURNS pgtrickle.pgt_stream_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(pgtrickle._sees_details(st.pgt_relid), false) THEN
        st.last_error_message := NULL;
    END IF;
    RETURN st;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables', '');
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_dependencies', '');

-------------------------------------------------------------------------------
-- Internal C helpers
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle._schedule_period(schedule text)
RETURNS double precision
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_schedule_period';
COMMENT ON FUNCTION pgtrickle._schedule_period(text) IS
    'seconds between two refreshes under a schedule (NULL for calculated)';

CREATE FUNCTION pgtrickle._block_dml()
RETURNS trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_block_dml';

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

-------------------------------------------------------------------------------
-- SQL API (§3.2)
--
-- Functions taking a stream-table name or a query do not pin search_path: names resolve like
-- relation names in the caller's search_path (as CREATE TABLE / DROP TABLE do). The C code
-- stores the query fully qualified and runs all of its own SQL under a pinned
-- search_path = pg_catalog, pg_temp.
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle.version()
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_version';

CREATE FUNCTION pgtrickle.create_stream_table(
    name text,
    query text,
    schedule text DEFAULT 'calculated',
    refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL,
    diamond_schedule_policy text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_create_stream_table';

CREATE FUNCTION pgtrickle.alter_stream_table(
    name text,
    query text DEFAULT NULL,
    schedule text DEFAULT NULL,
    refresh_mode text DEFAULT NULL,
    status text DEFAULT NULL,
    diamond_consistency text DEFAULT NULL,
    diamond_schedule_policy text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_alter_stream_table';

CREATE FUNCTION pgtrickle.drop_stream_table(name text, "cascade" boolean DEFAULT false)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_drop_stream_table';

CREATE FUNCTION pgtrickle.refresh_stream_table(name text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_refresh_stream_table';

CREATE FUNCTION pgtrickle.resume_stream_table(name text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgtrickle_resume_stream_table';

CREATE FUNCTION pgtrickle.diamond_groups()
RETURNS TABLE(group_id integer, member_name text, member_schema text,
              is_convergence boolean, epoch bigint, schedule_policy text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_diamond_groups';

CREATE FUNCTION pgtrickle.dependency_tree()
RETURNS TABLE(tree_line text, node text, node_type text, depth integer, group_id integer)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_dependency_tree';

CREATE FUNCTION pgtrickle.explain_st(name text)
RETURNS TABLE(property text, value text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgtrickle_explain_st';

-- The SQL constructs of the DIFFERENTIAL engine: maintained (operator) or refused (reason), from
-- the registry src/core/constructs.cpp (docs/sql-reference.md's support table is generated from it).
CREATE FUNCTION pgtrickle.supported_constructs()
RETURNS TABLE(category text, construct text, differential text, operator text, refusal text,
              source_file text, method text, example text)
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_supported_constructs';

-------------------------------------------------------------------------------
-- Views and monitoring
-------------------------------------------------------------------------------

CREATE VIEW pgtrickle.stream_tables_info AS
SELECT st.*,
       now() - st.data_timestamp AS staleness,
       coalesce(st.status = 'ACTIVE'
                AND now() - coalesce(st.data_timestamp, st.created_at)
                    > make_interval(secs => 2 * pgtrickle._schedule_period(st.schedule)),
                false) AS stale
FROM pgtrickle.pgt_stream_tables raw
CROSS JOIN LATERAL pgtrickle._hide_details(raw) st;
COMMENT ON VIEW pgtrickle.stream_tables_info IS
    'every catalog column of a stream table plus its staleness (last_error_message only for '
    'its owner and pg_read_all_stats)';
GRANT SELECT ON pgtrickle.stream_tables_info TO PUBLIC;

CREATE VIEW pgtrickle.refresh_history AS
SELECT h.refresh_id, h.pgt_id, h.data_timestamp, h.start_time, h.end_time, h.action, h.status,
       h.rows_inserted, h.rows_deleted,
       CASE WHEN pgtrickle._sees_details(st.pgt_relid) THEN h.error_message END AS error_message,
       h.initiated_by, h.group_id, h.group_epoch
FROM pgtrickle.pgt_refresh_history h
JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = h.pgt_id;
COMMENT ON VIEW pgtrickle.refresh_history IS
    'pgt_refresh_history with error_message only for the owner and pg_read_all_stats';
GRANT SELECT ON pgtrickle.refresh_history TO PUBLIC;

CREATE FUNCTION pgtrickle.pgt_status()
RETURNS TABLE(name text, status text, refresh_mode text, is_populated boolean,
              consecutive_errors integer, schedule text, data_timestamp timestamptz,
              staleness interval)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT quote_ident(i.pgt_schema) || '.' || quote_ident(i.pgt_name), i.status,
           i.refresh_mode, i.is_populated, i.consecutive_errors, i.schedule,
           i.data_timestamp, i.staleness
    FROM pgtrickle.stream_tables_info i
    ORDER BY i.pgt_schema, i.pgt_name
$$;

CREATE FUNCTION pgtrickle._resolve(name text)
RETURNS bigint
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'pgtrickle_resolve';
COMMENT ON FUNCTION pgtrickle._resolve(text) IS
    'pgt_id of a stream table named like a relation; error if it is not one';

CREATE FUNCTION pgtrickle.get_refresh_history(name text, max_rows integer DEFAULT 20)
RETURNS TABLE(refresh_id bigint, data_timestamp timestamptz, start_time timestamptz,
              end_time timestamptz, action text, status text, rows_inserted bigint,
              rows_deleted bigint, duration_ms double precision, error_message text,
              initiated_by text, group_id integer, group_epoch bigint)
LANGUAGE sql STABLE STRICT
AS $$
    SELECT h.refresh_id, h.data_timestamp, h.start_time, h.end_time, h.action, h.status,
           h.rows_inserted, h.rows_deleted,
           extract(epoch FROM h.end_time - h.start_time)::double precision * 1000,
           h.error_message, h.initiated_by, h.group_id, h.group_epoch
    FROM pgtrickle.refresh_history h
    WHERE h.pgt_id OPERATOR(pg_catalog.=) pgtrickle._resolve(name)
    ORDER BY h.refresh_id DESC
    LIMIT greatest(max_rows, 0)
$$;

CREATE FUNCTION pgtrickle.st_refresh_stats()
RETURNS TABLE(name text, total_refreshes bigint, successful_refreshes bigint,
              failed_refreshes bigint, rolled_back_refreshes bigint, full_refreshes bigint,
              differential_refreshes bigint, no_data_refreshes bigint,
              avg_duration_ms double precision, max_duration_ms double precision,
              total_rows_inserted numeric, total_rows_deleted numeric,
              last_refresh_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT quote_ident(st.pgt_schema) || '.' || quote_ident(st.pgt_name),
           count(h.refresh_id),
           count(*) FILTER (WHERE h.status = 'COMPLETED'),
           count(*) FILTER (WHERE h.status = 'FAILED'),
           count(*) FILTER (WHERE h.status = 'ROLLED_BACK'),
           count(*) FILTER (WHERE h.status = 'COMPLETED' AND h.action IN ('FULL', 'REINITIALIZE')),
           count(*) FILTER (WHERE h.status = 'COMPLETED' AND h.action = 'DIFFERENTIAL'),
           count(*) FILTER (WHERE h.status = 'COMPLETED' AND h.action = 'NO_DATA'),
           avg(extract(epoch FROM h.end_time - h.start_time) * 1000)::double precision,
           max(extract(epoch FROM h.end_time - h.start_time) * 1000)::double precision,
           coalesce(sum(h.rows_inserted), 0), coalesce(sum(h.rows_deleted), 0),
           st.last_refresh_at
    FROM pgtrickle.pgt_stream_tables st
    LEFT JOIN pgtrickle.pgt_refresh_history h ON h.pgt_id = st.pgt_id
    GROUP BY st.pgt_id
    ORDER BY st.pgt_schema, st.pgt_name
$$;

CREATE VIEW pgtrickle.pg_stat_stream_tables AS
SELECT i.pgt_id, i.pgt_schema, i.pgt_name, i.status, i.refresh_mode, i.is_populated,
       i.consecutive_errors, i.data_timestamp, i.last_refresh_at, i.staleness, i.stale,
       s.total_refreshes, s.successful_refreshes, s.failed_refreshes,
       s.rolled_back_refreshes, s.full_refreshes, s.differential_refreshes,
       s.no_data_refreshes, s.avg_duration_ms, s.max_duration_ms,
       s.total_rows_inserted, s.total_rows_deleted
FROM pgtrickle.stream_tables_info i
JOIN pgtrickle.st_refresh_stats() s
  ON s.name = quote_ident(i.pgt_schema) || '.' || quote_ident(i.pgt_name);
GRANT SELECT ON pgtrickle.pg_stat_stream_tables TO PUBLIC;

-------------------------------------------------------------------------------
-- DDL tracking: keep the catalog in step with DROP / RENAME / ALTER of tables
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle._on_sql_drop()
RETURNS event_trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_on_sql_drop';

CREATE FUNCTION pgtrickle._on_ddl_end()
RETURNS event_trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_on_ddl_end';

CREATE EVENT TRIGGER pgtrickle_sql_drop ON sql_drop
    EXECUTE FUNCTION pgtrickle._on_sql_drop();
CREATE EVENT TRIGGER pgtrickle_ddl_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW', 'CREATE VIEW', 'ALTER MATERIALIZED VIEW',
                 'ALTER TRIGGER')
    EXECUTE FUNCTION pgtrickle._on_ddl_end();
-- Also under session_replication_role = replica (restores, replication tooling): change capture
-- must follow ALTER TABLE whatever the role.
ALTER EVENT TRIGGER pgtrickle_sql_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER pgtrickle_ddl_end ENABLE ALWAYS;

-- Partitioned sources: capture on new partitions, FULL rebuild after ATTACH / DETACH, refusal
-- of DETACH ... CONCURRENTLY (capture/partitions.hpp). Fires after pgtrickle_ddl_end (name order).
CREATE FUNCTION pgtrickle._on_partition_ddl()
RETURNS event_trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_on_partition_ddl';

-- No SET search_path: it resolves the statement's table name as the statement will, then pins
-- search_path itself (bridge::PinnedSearchPath).
CREATE FUNCTION pgtrickle._on_partition_ddl_start()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgtrickle_on_partition_ddl_start';

CREATE EVENT TRIGGER pgtrickle_partition_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION pgtrickle._on_partition_ddl();
CREATE EVENT TRIGGER pgtrickle_partition_ddl_start ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION pgtrickle._on_partition_ddl_start();
ALTER EVENT TRIGGER pgtrickle_partition_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER pgtrickle_partition_ddl_start ENABLE ALWAYS;

-------------------------------------------------------------------------------
-- Scheduler
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle.health_check()
RETURNS TABLE(check_name text, severity text, detail text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_health_check';

CREATE FUNCTION pgtrickle._wake_launcher()
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_wake_launcher';
COMMENT ON FUNCTION pgtrickle._wake_launcher() IS
    'asks the pg_trickle launcher to look for new databases now';

-- A new database with pg_trickle gets its scheduler without waiting for the next rescan.
SELECT pgtrickle._wake_launcher();

-------------------------------------------------------------------------------
-- Change buffers are private; DIFFERENTIAL refreshes read them through this function, which
-- checks that the caller owns a stream table reading the source and may read the whole source
-- table.
-------------------------------------------------------------------------------

CREATE FUNCTION pgtrickle._pending_changes_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'pgtrickle_pending_changes_support';
COMMENT ON FUNCTION pgtrickle._pending_changes_support(internal) IS
    'planner support of _pending_changes: estimates its rows from the change buffer''s size';

CREATE FUNCTION pgtrickle._pending_changes(source oid, snapshot text, own_xid text, own_cid text)
RETURNS SETOF record
LANGUAGE C VOLATILE
SUPPORT pgtrickle._pending_changes_support
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgtrickle_pending_changes';
COMMENT ON FUNCTION pgtrickle._pending_changes(oid, text, text, text) IS
    'captured changes of a source not yet consumed by a frontier (for owners of its readers with '
    'SELECT on the whole source)';

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
