-- install: what CREATE EXTENSION pg_trickle leaves in the database (SPEC §3).
-- The extension is created by pg_regress (--load-extension=pg_trickle).
\set VERBOSITY default
\set SHOW_CONTEXT never

-- The extension lives in schema pgtrickle (\dx shows it; DROP SCHEMA public CASCADE must not
-- drop it).
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace AS schema
FROM pg_extension WHERE extname = 'pg_trickle';
SELECT pgtrickle.version();

-- Schemas: pgtrickle is usable by everyone, the change buffers are not.
SELECT n.nspname,
       pg_get_userbyid(n.nspowner) = current_user AS owned_by_installer,
       has_schema_privilege('public', n.oid, 'USAGE') AS public_usage,
       has_schema_privilege('public', n.oid, 'CREATE') AS public_create
FROM pg_namespace n
WHERE n.nspname IN ('pgtrickle', 'pgtrickle_changes')
ORDER BY 1;

-- pgtrickle_changes belongs to the extension; pgtrickle is the extension's schema (control file),
-- created by CREATE EXTENSION, so DROP SCHEMA pgtrickle CASCADE drops the extension.
SELECT n.nspname
FROM pg_depend d JOIN pg_namespace n ON n.oid = d.objid
WHERE d.classid = 'pg_namespace'::regclass
  AND d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_trickle')
  AND d.deptype = 'e'
ORDER BY 1;

-- Catalog tables, their columns and types (§3.1).
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'pgtrickle'::regnamespace AND c.relkind = 'r'
ORDER BY c.relname, a.attnum;

-- Primary keys, unique constraints and CHECK constraints.
SELECT conrelid::regclass AS table_name, contype, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE connamespace = 'pgtrickle'::regnamespace AND contype IN ('p', 'u', 'c', 'f')
ORDER BY conrelid::regclass::text, contype, pg_get_constraintdef(oid);

-- The catalog is readable by everyone, writable by nobody but its owner.
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert,
       has_table_privilege('public', c.oid, 'UPDATE') AS public_update,
       has_table_privilege('public', c.oid, 'DELETE') AS public_delete
FROM pg_class c
WHERE c.relnamespace = 'pgtrickle'::regnamespace AND c.relkind IN ('r', 'v')
ORDER BY 1;

-- CHECK constraints hold even against a superuser's direct UPDATE (terse: the failing row
-- would show OIDs and timestamps).
CREATE TABLE install_src (id int PRIMARY KEY);
INSERT INTO install_src VALUES (1), (2);
SELECT pgtrickle.create_stream_table('install_st', 'SELECT id FROM install_src', refresh_mode => 'FULL');
\set VERBOSITY terse
UPDATE pgtrickle.pgt_stream_tables SET refresh_mode = 'X' WHERE pgt_name = 'install_st';
\echo :SQLSTATE
UPDATE pgtrickle.pgt_stream_tables SET status = 'BROKEN' WHERE pgt_name = 'install_st';
\echo :SQLSTATE
UPDATE pgtrickle.pgt_stream_tables SET diamond_consistency = 'ATOMIC' WHERE pgt_name = 'install_st';
\echo :SQLSTATE
UPDATE pgtrickle.pgt_stream_tables SET diamond_schedule_policy = 'sometimes' WHERE pgt_name = 'install_st';
\echo :SQLSTATE
UPDATE pgtrickle.pgt_dependencies SET source_type = 'INDEX';
\echo :SQLSTATE
\set VERBOSITY default
SELECT pgt_name, refresh_mode, status, diamond_consistency, diamond_schedule_policy
FROM pgtrickle.pgt_stream_tables;
SELECT pgtrickle.drop_stream_table('install_st');
DROP TABLE install_src;

-- Views (§3.2): stream_tables_info has every catalog column plus staleness and stale.
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'pgtrickle.stream_tables_info'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT count(*) AS catalog_columns_missing_from_view
FROM pg_attribute a
WHERE a.attrelid = 'pgtrickle.pgt_stream_tables'::regclass AND a.attnum > 0
  AND NOT a.attisdropped
  AND a.attname NOT IN (SELECT v.attname FROM pg_attribute v
                        WHERE v.attrelid = 'pgtrickle.stream_tables_info'::regclass);
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = 'pgtrickle.pg_stat_stream_tables'::regclass AND a.attnum > 0
ORDER BY a.attnum;

-- The SQL API (§3.2): signatures, result types and defaults.
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result
FROM pg_proc p
WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.proname NOT LIKE '\_%'
ORDER BY p.proname;

-- Every function of the extension pins its search_path or resolves names like the caller's
-- relation names; none is SECURITY DEFINER. The capture trigger _capture resolves only its
-- qualified argument, with no SQL: it has no SET clause, which would cost every write a settings
-- save and restore.
SELECT p.proname, p.prosecdef,
       coalesce(array_to_string(p.proconfig, ', '), '(caller''s search_path)') AS config
FROM pg_proc p
WHERE p.pronamespace = 'pgtrickle'::regnamespace
ORDER BY p.proname;

-- GUCs (§3.3): defaults, units and who may change them. pg_trickle.enabled is off in the
-- regression configuration (tests/regress.conf); its built-in default is on.
SELECT name, setting, unit, boot_val, vartype, context, enumvals, min_val, max_val
FROM pg_settings
WHERE name LIKE 'pg\_trickle.%'
ORDER BY name;
SHOW pg_trickle.enabled;
SHOW pg_trickle.scheduler_interval_ms;
SHOW pg_trickle.min_schedule_seconds;
SHOW pg_trickle.max_consecutive_errors;
SHOW pg_trickle.diamond_consistency;
SHOW pg_trickle.diamond_schedule_policy;
SHOW pg_trickle.change_buffer_schema;
SHOW pg_trickle.differential_max_change_ratio;

-- GUC values are validated; the prefix is reserved.
SET pg_trickle.diamond_consistency = 'sometimes';
\echo :SQLSTATE
SET pg_trickle.diamond_schedule_policy = 'never';
\echo :SQLSTATE
SET pg_trickle.differential_max_change_ratio = -0.5;
\echo :SQLSTATE
SET pg_trickle.no_such_setting = 1;
\echo :SQLSTATE
SET pg_trickle.diamond_consistency = 'NONE';
SHOW pg_trickle.diamond_consistency;
RESET pg_trickle.diamond_consistency;

-- Change buffers are not readable by PUBLIC.
SELECT has_schema_privilege('public', 'pgtrickle_changes', 'USAGE') AS public_usage,
       has_schema_privilege('public', 'pgtrickle_changes', 'CREATE') AS public_create;
CREATE ROLE install_user;
SELECT has_schema_privilege('install_user', 'pgtrickle_changes', 'USAGE') AS user_usage,
       has_schema_privilege('install_user', 'pgtrickle', 'USAGE') AS user_api_usage,
       has_function_privilege('install_user', 'pgtrickle.create_stream_table(text, text, text, text, boolean, text, text)', 'EXECUTE') AS user_can_create;
DROP ROLE install_user;

-- Event triggers that keep the catalog in step with DDL.
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger
WHERE evtname LIKE 'pgtrickle%' ORDER BY 1;

-- Nothing is left from the test.
SELECT count(*) AS stream_tables FROM pgtrickle.pgt_stream_tables;
SELECT count(*) AS tracked_sources FROM pgtrickle.pgt_change_tracking;
