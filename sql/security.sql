-- security: a stream table's query, and every function it calls, runs only as the stream
-- table's owner in a security-restricted operation, on every path (SPEC §9); what each role may
-- see and trigger (docs/security.md).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE sec_hostile;
CREATE ROLE sec_victim;
CREATE ROLE sec_reader;
CREATE ROLE sec_monitor;
GRANT pg_monitor TO sec_monitor;
CREATE SCHEMA sec_h AUTHORIZATION sec_hostile;
CREATE SCHEMA sec_v AUTHORIZATION sec_victim;
GRANT USAGE ON SCHEMA sec_h, sec_v TO PUBLIC;

-------------------------------------------------------------------------------
-- A hostile role: an "IMMUTABLE" function (a lie) that records who runs it and whether in a
-- security-restricted operation, tries to make its author superuser and to plant a
-- search_path in the session. A constant call f(1) is folded by the planner, so merely planning
-- the query runs it.
-------------------------------------------------------------------------------
SET ROLE sec_hostile;
CREATE TABLE sec_h.calls (who name, restricted boolean);
GRANT INSERT ON sec_h.calls TO PUBLIC;
CREATE FUNCTION sec_h.record_call() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    restricted boolean;
BEGIN
    BEGIN
        -- LISTEN is refused inside a security-restricted operation.
        EXECUTE 'LISTEN sec_probe';
        RAISE EXCEPTION 'not restricted'; -- undoes the LISTEN
    EXCEPTION WHEN others THEN
        restricted := SQLERRM LIKE '%security-restricted operation%';
    END;
    INSERT INTO sec_h.calls VALUES (current_user, restricted);
    -- A session-level setting would outlive the refresh in the caller's session.
    PERFORM set_config('search_path', 'sec_h, public', false);
    BEGIN
        EXECUTE 'ALTER ROLE sec_hostile SUPERUSER';
    EXCEPTION WHEN others THEN
        NULL;
    END;
    RETURN 1;
END $$;
CREATE FUNCTION sec_h.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN sec_h.record_call() * $1;
END $$;
CREATE TABLE sec_h.src (id int PRIMARY KEY, v text);
INSERT INTO sec_h.src SELECT g, chr(96 + g) FROM generate_series(1, 20) g;
RESET ROLE;

-- Who ran the hostile function since the last look; empties the log.
CREATE FUNCTION sec_calls() RETURNS TABLE (who name, restricted boolean) LANGUAGE sql AS $$
    DELETE FROM sec_h.calls RETURNING who, restricted;
$$;
CREATE VIEW sec_seen AS SELECT DISTINCT who, restricted FROM sec_calls() ORDER BY 1, 2;
-- Whether a sec_ role became superuser, and the session's search_path (planted or not).
CREATE VIEW sec_escalated AS
SELECT string_agg(rolname, ', ') FILTER (WHERE rolsuper) AS superusers,
       current_setting('search_path') AS search_path
FROM pg_roles WHERE rolname LIKE 'sec\_%';

-------------------------------------------------------------------------------
-- create_stream_table: analysis and the first refresh, FULL and DIFFERENTIAL
-------------------------------------------------------------------------------
SET ROLE sec_hostile;
SELECT pgtrickle.create_stream_table('sec_h.st_full',
    'SELECT id, v FROM sec_h.src WHERE sec_h.f(1) = 1', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('sec_h.st_diff',
    'SELECT id, v FROM sec_h.src WHERE sec_h.f(1) = 1', refresh_mode => 'DIFFERENTIAL');
RESET ROLE;
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- DDL event trigger: ALTER TABLE on a source re-analyzes every stream table reading it
-------------------------------------------------------------------------------
SET ROLE sec_hostile;
ALTER TABLE sec_h.src ADD COLUMN note text;
RESET ROLE;
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;
-- The same when a superuser alters the source.
ALTER TABLE sec_h.src ADD COLUMN note2 text;
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- Manual refresh, by the owner and by a superuser; FULL, DIFFERENTIAL, REINITIALIZE
-------------------------------------------------------------------------------
INSERT INTO sec_h.src VALUES (21, 'c');
SET ROLE sec_hostile;
SELECT pgtrickle.refresh_stream_table('sec_h.st_full');
SELECT pgtrickle.refresh_stream_table('sec_h.st_diff');
RESET ROLE;
SELECT * FROM sec_seen;
INSERT INTO sec_h.src VALUES (22, 'd');
SELECT pgtrickle.refresh_stream_table('sec_h.st_full');
SELECT pgtrickle.refresh_stream_table('sec_h.st_diff');
SELECT action, status FROM pgtrickle.get_refresh_history('sec_h.st_diff', 1);
SELECT * FROM sec_seen;
-- A column type change marks both for REINITIALIZE (the query is analyzed again).
ALTER TABLE sec_h.src ALTER COLUMN v TYPE varchar(10);
SELECT * FROM sec_seen;
SELECT pgtrickle.refresh_stream_table('sec_h.st_full');
SELECT pgtrickle.refresh_stream_table('sec_h.st_diff');
SELECT action, status FROM pgtrickle.get_refresh_history('sec_h.st_diff', 1);
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- explain_st plans nothing as anyone else
-------------------------------------------------------------------------------
SELECT count(*) > 0 FROM pgtrickle.explain_st('sec_h.st_diff');
SET ROLE sec_hostile;
SELECT count(*) > 0 FROM pgtrickle.explain_st('sec_h.st_diff');
RESET ROLE;
SELECT * FROM sec_seen;

-------------------------------------------------------------------------------
-- alter_stream_table by a superuser: the new query is analyzed as the owner
-------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('sec_h.st_full',
    query => 'SELECT id, v, sec_h.f(2) AS two FROM sec_h.src WHERE sec_h.f(1) = 1');
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- Another owner's upstream: when its owner changes its shape, the hostile downstream is
-- re-analyzed (DDL event trigger) and checked (alter_stream_table) as the hostile role only.
-------------------------------------------------------------------------------
SET ROLE sec_victim;
CREATE TABLE sec_v.base (id int PRIMARY KEY, w int);
INSERT INTO sec_v.base VALUES (1, 10);
SELECT pgtrickle.create_stream_table('sec_v.up', 'SELECT id, w FROM sec_v.base',
                                     refresh_mode => 'FULL');
GRANT SELECT ON sec_v.up TO sec_hostile;
RESET ROLE;
SET ROLE sec_hostile;
SELECT pgtrickle.create_stream_table('sec_h.down',
    'SELECT id, w FROM sec_v.up WHERE sec_h.f(1) = 1', refresh_mode => 'FULL');
RESET ROLE;
SELECT * FROM sec_seen;
SET ROLE sec_victim;
SELECT pgtrickle.alter_stream_table('sec_v.up', query => 'SELECT id, w, w * 2 AS w2 FROM sec_v.base');
RESET ROLE;
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- A refresh may write only the stream table it refreshes: a trigger the owner put on its storage
-- cannot use the refresh to write another stream table (whose owner granted DELETE, trusting
-- that stream tables refuse DML).
-------------------------------------------------------------------------------
SET ROLE sec_victim;
GRANT DELETE ON sec_v.up TO sec_hostile;
RESET ROLE;
SET ROLE sec_hostile;
CREATE FUNCTION sec_h.wipe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sec_v.up;
    RETURN NULL;
END $$;
CREATE TRIGGER wipe AFTER INSERT ON sec_h.st_full FOR EACH STATEMENT EXECUTE FUNCTION sec_h.wipe();
INSERT INTO sec_h.src VALUES (24, 'f');
SELECT pgtrickle.refresh_stream_table('sec_h.st_full');
\echo :SQLSTATE
DROP TRIGGER wipe ON sec_h.st_full;
RESET ROLE;
SELECT count(*) FROM sec_v.up;
SELECT * FROM sec_seen;

-------------------------------------------------------------------------------
-- Change capture runs no code of the table's owner: a source column of a hostile domain must not
-- run the domain's CHECK there (the TRUNCATE marker row holds NULLs).
-------------------------------------------------------------------------------
SET ROLE sec_hostile;
CREATE DOMAIN sec_h.d AS int CHECK (sec_h.record_call() = 1);
CREATE TABLE sec_h.dsrc (id int PRIMARY KEY, x sec_h.d);
SELECT pgtrickle.create_stream_table('sec_h.dst', 'SELECT id, x FROM sec_h.dsrc',
                                     refresh_mode => 'DIFFERENTIAL');
-- (Its own INSERT runs the CHECK as itself, outside any restriction, as in any table.)
INSERT INTO sec_h.dsrc SELECT g, 1 FROM generate_series(1, 20) g;
RESET ROLE;
RESET search_path;
SELECT * FROM sec_seen;
SET ROLE sec_hostile;
UPDATE sec_h.dsrc SET id = id + 100 WHERE id = 1;
DELETE FROM sec_h.dsrc WHERE id = 2;
TRUNCATE sec_h.dsrc;
SELECT pgtrickle.refresh_stream_table('sec_h.dst');
RESET ROLE;
SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;
SELECT count(*) FROM sec_h.dst;

-- The capture trigger function writes into the change buffer its trigger names: a role cannot
-- attach it to a table of its own to forge changes into a buffer (here sec_h.src's, which every
-- stream table reading sec_h.src reads, whoever owns it), nor call it.
SELECT format('%I.%I', buffer_schema, buffer_name) AS victim_buffer
FROM pgtrickle.pgt_change_tracking WHERE source_relid = 'sec_h.src'::regclass \gset
SET ROLE sec_hostile;
CREATE TABLE sec_h.forge (id int, v text);
-- (Not echoed: the buffer's name holds an oid.)
\set ECHO none
SELECT format('CREATE TRIGGER forge AFTER INSERT ON sec_h.forge REFERENCING NEW TABLE AS n '
              'FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture(%L)', :'victim_buffer')
\gexec
\set ECHO all
SELECT pgtrickle._capture();
DROP TABLE sec_h.forge;
RESET ROLE;
-- Nor does the function write into a table that is not a change buffer.
CREATE TABLE sec_not_buffer (id int, v text);
CREATE TABLE sec_forge_src (id int, v text);
CREATE TRIGGER forge AFTER INSERT ON sec_forge_src REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._capture('public.sec_not_buffer');
INSERT INTO sec_forge_src VALUES (1, 'x');
DROP TABLE sec_forge_src, sec_not_buffer;

-------------------------------------------------------------------------------
-- Item 14: what other roles may see and trigger
-------------------------------------------------------------------------------
-- A failure message may hold data values: simulate a failed scheduler refresh.
UPDATE pgtrickle.pgt_stream_tables
SET last_error_message = 'invalid input syntax for type integer: "s3cret"',
    consecutive_errors = 1, last_error_at = now()
WHERE pgt_name = 'st_full';
UPDATE pgtrickle.pgt_refresh_history SET error_message = 'secret detail s3cret'
WHERE refresh_id = (SELECT max(refresh_id) FROM pgtrickle.pgt_refresh_history h
                    JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE pgt_name = 'st_full');
INSERT INTO sec_h.src VALUES (23, 'e');

CREATE VIEW sec_explain AS
SELECT property, value FROM pgtrickle.explain_st('sec_h.st_diff')
WHERE property IN ('name', 'status', 'effective_mode', 'mode_reason', 'defining_query');
GRANT SELECT ON sec_explain TO PUBLIC;
CREATE VIEW sec_errors AS
SELECT (SELECT last_error_message FROM pgtrickle.stream_tables_info
        WHERE pgt_name = 'st_full') AS info,
       (SELECT string_agg(coalesce(error_message, '-'), ', ')
        FROM pgtrickle.get_refresh_history('sec_h.st_full', 100)) AS history,
       (SELECT detail FROM pgtrickle.health_check()
        WHERE check_name = 'failing_tables') AS health;
GRANT SELECT ON sec_errors TO PUBLIC;

-- The owner sees everything.
SET ROLE sec_hostile;
SELECT * FROM sec_explain;
SELECT * FROM sec_errors;
RESET ROLE;
-- So do pg_read_all_stats members (pg_monitor).
SET ROLE sec_monitor;
SELECT * FROM sec_explain;
SELECT * FROM sec_errors;
RESET ROLE;
-- Other roles see the definition (like pg_views) and the state, but not what the change
-- buffers hold nor the failure messages.
SET ROLE sec_reader;
SELECT * FROM sec_explain;
SELECT * FROM sec_errors;
SELECT last_error_message FROM pgtrickle.pgt_stream_tables;
\echo :SQLSTATE
SELECT error_message FROM pgtrickle.pgt_refresh_history;
\echo :SQLSTATE
SELECT count(*) > 0 FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_full';
-- Monitoring stays usable for everyone.
SELECT (SELECT count(*) FROM pgtrickle.pgt_status()) > 0 AS status,
       (SELECT count(*) FROM pgtrickle.st_refresh_stats()) > 0 AS stats,
       (SELECT count(*) FROM pgtrickle.pg_stat_stream_tables) > 0 AS stat_view,
       (SELECT count(*) FROM pgtrickle.refresh_history) > 0 AS history,
       (SELECT count(*) FROM pgtrickle.dependency_tree()) > 0 AS tree,
       (SELECT count(*) FROM pgtrickle.health_check()) > 0 AS health;
RESET ROLE;
-- The captured changes (old values of updated and deleted rows) are for the owners of the stream
-- tables reading the source, even for a role that may read the source itself.
SET ROLE sec_hostile;
GRANT SELECT ON sec_h.src TO sec_reader;
RESET ROLE;
SET ROLE sec_reader;
SELECT count(*) FROM pgtrickle._pending_changes('sec_h.src'::regclass, '1:1:', NULL, NULL)
    AS b(x xid8, a "char", id int, v varchar(10), note text, note2 text);
\echo :SQLSTATE
RESET ROLE;
-- A column definition list that does not describe the buffer is refused, not misread.
SET ROLE sec_hostile;
SELECT count(*) FROM pgtrickle._pending_changes('sec_h.src'::regclass, '1:1:', NULL, NULL)
    AS b(x text, a text, id text, v text, note text, note2 text);
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM sec_seen;

-- Refreshing a member of a consistency group refreshes the whole group: every member must be
-- the caller's (like REFRESH MATERIALIZED VIEW).
SET ROLE sec_victim;
CREATE TABLE sec_v.r (id int PRIMARY KEY, val int, grp text);
INSERT INTO sec_v.r VALUES (1, 1, 'x');
SELECT pgtrickle.create_stream_table('sec_v.a', 'SELECT id, val AS va, grp FROM sec_v.r', '1h',
                                     'DIFFERENTIAL', diamond_consistency => 'atomic');
SELECT pgtrickle.create_stream_table('sec_v.b', 'SELECT id, val * 2 AS vb, grp FROM sec_v.r', '1h',
                                     'DIFFERENTIAL', diamond_consistency => 'atomic');
GRANT SELECT ON sec_v.a, sec_v.b TO sec_hostile;
RESET ROLE;
SET ROLE sec_hostile;
SELECT pgtrickle.create_stream_table('sec_h.tip',
    'SELECT a.grp, count(*) AS n FROM sec_v.a JOIN sec_v.b ON a.id = b.id GROUP BY a.grp', '1h',
    'FULL', diamond_consistency => 'atomic');
RESET ROLE;
SELECT member_schema, member_name FROM pgtrickle.diamond_groups() ORDER BY 1, 2;
INSERT INTO sec_v.r VALUES (2, 2, 'y');
SET ROLE sec_victim;
SELECT pgtrickle.refresh_stream_table('sec_v.a');
\echo :SQLSTATE
RESET ROLE;
SET ROLE sec_hostile;
SELECT pgtrickle.refresh_stream_table('sec_h.tip');
\echo :SQLSTATE
-- A new query is populated by a group refresh too.
SELECT pgtrickle.alter_stream_table('sec_h.tip',
    query => 'SELECT a.grp, count(*) AS n, sum(b.vb) AS s FROM sec_v.a JOIN sec_v.b ON a.id = b.id GROUP BY a.grp');
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM sec_v.a ORDER BY id;
-- A role owning every member (here a superuser) may.
SELECT pgtrickle.refresh_stream_table('sec_v.a');
SELECT * FROM sec_h.tip ORDER BY grp;

SELECT * FROM sec_seen;
SELECT * FROM sec_escalated;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
SELECT pgtrickle.drop_stream_table('sec_h.tip');
SELECT pgtrickle.drop_stream_table('sec_v.a');
SELECT pgtrickle.drop_stream_table('sec_v.b');
SELECT pgtrickle.drop_stream_table('sec_h.down');
SELECT pgtrickle.drop_stream_table('sec_v.up');
SELECT pgtrickle.drop_stream_table('sec_h.st_full');
SELECT pgtrickle.drop_stream_table('sec_h.st_diff');
SELECT pgtrickle.drop_stream_table('sec_h.dst');
DROP VIEW sec_explain, sec_errors, sec_seen, sec_escalated;
DROP FUNCTION sec_calls();
DROP SCHEMA sec_h, sec_v CASCADE;
DROP ROLE sec_hostile, sec_victim, sec_reader, sec_monitor;
