-- user_types: output columns and group keys of user-defined and extension types work in FULL
-- and DIFFERENTIAL (and AUTO), whether or not their schema is on the search path: enums,
-- domains, composites, arrays of each, types in another schema, and citext, hstore and ltree
-- from contrib. The storage table and the delta SQL name every type by its OID (qualified),
-- never by a bare name looked up under the extension's pinned search_path (which gave 42704
-- "type ... does not exist" in every mode). Where DIFFERENTIAL cannot maintain a shape (array
-- group keys), it refuses with 0A000 naming it, and AUTO refreshes FULL.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE EXTENSION ltree;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN shorttext AS varchar(8);
CREATE TYPE pt AS (x int, label text);
-- A schema off the search path: its types are found only qualified.
CREATE SCHEMA ut_hidden;
CREATE TYPE ut_hidden.color AS ENUM ('red', 'green', 'blue');
CREATE DOMAIN ut_hidden.score AS numeric(6, 2);
CREATE TYPE ut_hidden.pair AS (a ut_hidden.color, b mood);

CREATE TABLE ut (id int PRIMARY KEY, m mood, d posint, sd shorttext, p pt, ms mood[],
                 ds posint[], ps pt[], c ut_hidden.color, sc ut_hidden.score, pr ut_hidden.pair,
                 ci citext, h hstore, l ltree, cs ut_hidden.color[]);
INSERT INTO ut VALUES
  (1, 'ok', 1, 'a', '(1,x)', '{ok,sad}', '{1,2}', '{"(1,x)"}', 'red', 1.50, '(red,ok)', 'Abc',
   'a=>1', 'top.a', '{red}'),
  (2, 'sad', 2, 'b', '(2,y)', '{}', '{3}', '{}', 'green', 2.00, '(green,sad)', 'def', 'b=>2',
   'top.b', '{green,red}'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Compares a stream table with its query by identity (binary form of each row, as a multiset).
CREATE FUNCTION ut_same(st regclass, q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE a bytea[]; b bytea[];
BEGIN
	EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(t) ORDER BY pg_catalog.record_send(t)), ''{}'') FROM %s t', st) INTO a;
	EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(t) ORDER BY pg_catalog.record_send(t)), ''{}'') FROM (%s) t', q) INTO b;
	RETURN a = b;
END $$;

CREATE TABLE ut_queries (name text PRIMARY KEY, q text);
INSERT INTO ut_queries VALUES
  ('rows', 'SELECT id, m, d, sd, p, ms, ds, ps, c, sc, pr, ci, h, l, cs FROM ut'),
  ('by_enum', 'SELECT m, count(*) AS n, max(d) AS md FROM ut GROUP BY m'),
  ('by_domain', 'SELECT d, sd, count(*) AS n FROM ut GROUP BY d, sd'),
  ('by_composite', 'SELECT p, pr, count(*) AS n FROM ut GROUP BY p, pr'),
  ('by_hidden', 'SELECT c, sc, sum(id) AS s FROM ut GROUP BY c, sc'),
  ('by_contrib', 'SELECT ci, h, l, count(*) AS n FROM ut GROUP BY ci, h, l'),
  ('distinct_types', 'SELECT DISTINCT m, c, pr, l FROM ut'),
  ('by_arrays', 'SELECT ms, ds, ps, cs, count(*) AS n FROM ut GROUP BY ms, ds, ps, cs'),
  ('casts', 'SELECT id, m::text AS mt, (d + 1)::posint AS d1, (p).label AS pl, ms[1] AS m1, '
            'h -> ''a'' AS ha, subpath(l, 0, 1) AS l0, ''blue''::ut_hidden.color AS k FROM ut');

-- Every query in FULL and AUTO; DIFFERENTIAL works or refuses with 0A000 naming the construct.
DO $$
DECLARE r record; mode text;
BEGIN
	FOR r IN SELECT * FROM ut_queries ORDER BY name LOOP
		FOREACH mode IN ARRAY ARRAY['FULL', 'DIFFERENTIAL', 'AUTO'] LOOP
			BEGIN
				PERFORM pgtrickle.create_stream_table('ut_' || r.name || '_' || lower(mode), r.q,
				                                      '1h', mode);
			EXCEPTION WHEN OTHERS THEN
				RAISE NOTICE '% %: % %', r.name, mode, SQLSTATE, SQLERRM;
			END;
		END LOOP;
	END LOOP;
END $$;
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'ut\_%'
ORDER BY pgt_name;

-- Changes of every kind, then refresh and compare each with its query.
CREATE FUNCTION ut_check() RETURNS TABLE (st text, same bool) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
	FOR r IN SELECT s.pgt_name, q.q FROM pgtrickle.pgt_stream_tables s
	         JOIN ut_queries q ON s.pgt_name LIKE 'ut\_' || q.name || '\_%'
	         ORDER BY s.pgt_name LOOP
		PERFORM pgtrickle.refresh_stream_table(r.pgt_name);
		st := r.pgt_name;
		same := ut_same(r.pgt_name::regclass, r.q);
		RETURN NEXT;
	END LOOP;
END $$;
SELECT * FROM ut_check();
INSERT INTO ut VALUES
  (4, 'happy', 4, 'd', '(1,x)', '{happy}', '{1,2}', '{"(1,x)"}', 'blue', 1.5, '(red,ok)', 'Abc',
   'a=>1', 'top.a', '{red}');
UPDATE ut SET m = 'happy', c = 'blue', ci = 'X', h = h || 'z=>9', l = l || 'x', ms = ms || 'ok'::mood
WHERE id = 1;
UPDATE ut SET id = 5, p = '(5,"q r")', pr = '(blue,happy)', sc = 2 WHERE id = 2;
DELETE FROM ut WHERE id = 3;
SELECT * FROM ut_check() WHERE NOT same;
SELECT count(*) AS checked FROM ut_check();
SELECT m, n, md FROM ut_by_enum_differential ORDER BY m;
SELECT c, sc, s FROM ut_by_hidden_differential ORDER BY c;
SELECT ci::text, h, l, n FROM ut_by_contrib_full ORDER BY ci, l;
-- The storage columns carry the types of the query, named qualified.
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a WHERE a.attrelid = 'ut_rows_differential'::regclass AND a.attnum > 0
ORDER BY a.attnum;

-- Clean up.
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table(pgt_name) FROM pgtrickle.pgt_stream_tables
WHERE pgt_name LIKE 'ut\_%' ORDER BY pgt_id DESC;
DROP TABLE ut, ut_queries;
DROP FUNCTION ut_same(regclass, text);
DROP FUNCTION ut_check();
DROP TYPE ut_hidden.pair, pt;
DROP SCHEMA ut_hidden CASCADE;
DROP TYPE mood;
DROP DOMAIN posint, shorttext;
DROP EXTENSION citext;
DROP EXTENSION hstore;
DROP EXTENSION ltree;
RESET client_min_messages;
RESET pg_trickle.differential_max_change_ratio;
