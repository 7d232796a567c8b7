-- permissions: stream tables belong to their creator, need SELECT on every source, are managed
-- only by their owner, and refresh with the owner's privileges (SPEC §3, §4, §7).
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE perm_alice;
CREATE ROLE perm_bob;
CREATE ROLE perm_team;
GRANT perm_team TO perm_bob;
CREATE SCHEMA perm_app AUTHORIZATION perm_alice;
GRANT USAGE ON SCHEMA perm_app TO perm_bob, perm_team;

CREATE TABLE perm_src (id int PRIMARY KEY, secret text);
INSERT INTO perm_src VALUES (1, 'a'), (2, 'b');

CREATE TEMP VIEW perm_state AS
SELECT (SELECT count(*) FROM pgtrickle.pgt_stream_tables) AS stream_tables,
       (SELECT count(*) FROM pgtrickle.pgt_change_tracking) AS tracked_sources,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'perm_app'::regnamespace) AS app_relations,
       (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\_\_pgt\_%') AS triggers;
GRANT SELECT ON perm_state TO PUBLIC;

-------------------------------------------------------------------------------
-- Creating requires SELECT on every source and CREATE on the target schema
-------------------------------------------------------------------------------
SET ROLE perm_alice;
SELECT pgtrickle.create_stream_table('perm_app.st', 'SELECT id, secret FROM public.perm_src');
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM perm_state;

GRANT SELECT (id) ON perm_src TO perm_alice;
SET ROLE perm_alice;
-- Column privileges count: secret is still not readable.
SELECT pgtrickle.create_stream_table('perm_app.st', 'SELECT id, secret FROM public.perm_src');
\echo :SQLSTATE
SELECT pgtrickle.create_stream_table('perm_app.st', 'SELECT * FROM public.perm_src');
\echo :SQLSTATE
-- No CREATE on schema public.
SELECT pgtrickle.create_stream_table('public.perm_st', 'SELECT id FROM public.perm_src');
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM perm_state;

-- Reading through a view uses the view owner's privileges, like any query.
CREATE VIEW perm_view AS SELECT id, secret FROM perm_src;
GRANT SELECT ON perm_view TO perm_alice;

SET ROLE perm_alice;
SELECT pgtrickle.create_stream_table('perm_app.st', 'SELECT id FROM public.perm_src',
                                     refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('perm_app.st_view', 'SELECT id, secret FROM public.perm_view',
                                     refresh_mode => 'FULL');
RESET ROLE;

-- The storage table belongs to the caller.
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c WHERE c.relnamespace = 'perm_app'::regnamespace AND c.relkind = 'r' ORDER BY 1;

-------------------------------------------------------------------------------
-- The owner manages it
-------------------------------------------------------------------------------
SET ROLE perm_alice;
SELECT * FROM perm_app.st ORDER BY id;
SELECT * FROM perm_app.st_view ORDER BY id;
SELECT pgtrickle.refresh_stream_table('perm_app.st');
SELECT pgtrickle.alter_stream_table('perm_app.st', schedule => '10m');
SELECT pgtrickle.alter_stream_table('perm_app.st', status => 'SUSPENDED');
SELECT pgtrickle.resume_stream_table('perm_app.st');
-- The catalog and the monitoring functions are readable.
SELECT name, status, schedule FROM pgtrickle.pgt_status();
SELECT action, status, initiated_by FROM pgtrickle.get_refresh_history('perm_app.st');
SELECT property, value FROM pgtrickle.explain_st('perm_app.st') WHERE property = 'name';
-- The owner may grant on it and index it, but not write to it.
GRANT SELECT ON perm_app.st TO perm_team;
CREATE INDEX st_id ON perm_app.st (id);
INSERT INTO perm_app.st VALUES (3);
\echo :SQLSTATE
-- The catalog cannot be written directly, and change buffers cannot be read.
UPDATE pgtrickle.pgt_stream_tables SET schedule = '1s';
\echo :SQLSTATE
DELETE FROM pgtrickle.pgt_refresh_history;
\echo :SQLSTATE
RESET ROLE;
SELECT buffer_schema || '.' || buffer_name AS perm_buffer FROM pgtrickle.pgt_change_tracking
WHERE source_relid = 'perm_src'::regclass \gset
-- (perm_alice may not read perm_src.secret, which the buffer holds.)
SET ROLE perm_alice;
\set VERBOSITY sqlstate
SELECT count(*) FROM :perm_buffer;
\set VERBOSITY default
RESET ROLE;

-------------------------------------------------------------------------------
-- Others may read it if granted, but not manage it
-------------------------------------------------------------------------------
SET ROLE perm_bob;
-- perm_bob is a member of perm_team.
SELECT * FROM perm_app.st ORDER BY id;
SELECT * FROM perm_app.st_view;
\echo :SQLSTATE
SELECT pgtrickle.refresh_stream_table('perm_app.st');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('perm_app.st', schedule => '1m');
\echo :SQLSTATE
SELECT pgtrickle.alter_stream_table('perm_app.st', status => 'SUSPENDED');
\echo :SQLSTATE
SELECT pgtrickle.drop_stream_table('perm_app.st');
\echo :SQLSTATE
-- Ownership is checked before the state of the stream table is revealed.
SELECT pgtrickle.resume_stream_table('perm_app.st');
\echo :SQLSTATE
RESET ROLE;
SELECT pgt_name, schedule, status FROM pgtrickle.pgt_stream_tables ORDER BY 1;
SELECT count(*) FROM perm_app.st;

-- Members of the owning role may manage it, like ALTER TABLE.
GRANT SELECT (id) ON perm_src TO perm_team;
ALTER TABLE perm_app.st OWNER TO perm_team;
SET ROLE perm_bob;
SELECT pgtrickle.refresh_stream_table('perm_app.st');
SELECT pgtrickle.alter_stream_table('perm_app.st', schedule => '20m');
RESET ROLE;
SELECT pgt_name, schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st';
ALTER TABLE perm_app.st OWNER TO perm_alice;
REVOKE SELECT (id) ON perm_src FROM perm_team;

-------------------------------------------------------------------------------
-- Writes to a source by a role that cannot read the change buffers are captured
-------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON perm_src TO perm_bob;
SET ROLE perm_bob;
INSERT INTO perm_src VALUES (3, 'c');
UPDATE perm_src SET secret = 'B' WHERE id = 2;
DELETE FROM perm_src WHERE id = 1;
RESET ROLE;
SET ROLE perm_alice;
SELECT pgtrickle.refresh_stream_table('perm_app.st');
SELECT * FROM perm_app.st ORDER BY id;
SELECT pgtrickle.refresh_stream_table('perm_app.st_view');
SELECT * FROM perm_app.st_view ORDER BY id;
RESET ROLE;

-------------------------------------------------------------------------------
-- Refreshes run with the owner's privileges, even when a superuser asks for them
-------------------------------------------------------------------------------
REVOKE SELECT (id) ON perm_src FROM perm_alice;
INSERT INTO perm_src VALUES (4, 'd');
SELECT pgtrickle.refresh_stream_table('perm_app.st');
\echo :SQLSTATE
SELECT * FROM perm_app.st ORDER BY id;
GRANT SELECT (id) ON perm_src TO perm_alice;
SELECT pgtrickle.refresh_stream_table('perm_app.st');
SELECT * FROM perm_app.st ORDER BY id;

-------------------------------------------------------------------------------
-- Clean up: the owner drops them
-------------------------------------------------------------------------------
SET ROLE perm_alice;
SELECT pgtrickle.drop_stream_table('perm_app.st_view');
SELECT pgtrickle.drop_stream_table('perm_app.st');
RESET ROLE;
SELECT * FROM perm_state;

DROP VIEW perm_state;
DROP VIEW perm_view;
DROP TABLE perm_src;
DROP SCHEMA perm_app;
DROP ROLE perm_alice;
DROP ROLE perm_bob;
DROP ROLE perm_team;
