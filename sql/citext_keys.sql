-- Group keys of an extension type whose "=" differs from the type it casts to: citext groups
-- 'a' and 'A' together. The affected groups must be selected with citext's own "=", not with
-- text's (delta SQL runs under a search_path of pg_catalog only, where a bare "=" on citext
-- resolves to text's case-sensitive operator).
CREATE EXTENSION citext;
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE ck (id int, c citext);
INSERT INTO ck VALUES (1, 'a'), (2, 'a');
SELECT pgtrickle.create_stream_table('ck_g', 'SELECT c, count(*) AS n FROM ck GROUP BY c', '1h', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('ck_d', 'SELECT DISTINCT c FROM ck', '1h', 'DIFFERENTIAL');
-- Compares a stream table with its query by identity (bytes of each row, as a multiset).
CREATE FUNCTION ck_same(st regclass, q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE a bytea[]; b bytea[];
BEGIN
	EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(t) ORDER BY pg_catalog.record_send(t)), ''{}'') FROM %s t', st) INTO a;
	EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(t) ORDER BY pg_catalog.record_send(t)), ''{}'') FROM (%s) t', q) INTO b;
	RETURN a = b;
END $$;
UPDATE ck SET c = 'A' WHERE c = 'a';
SELECT pgtrickle.refresh_stream_table('ck_g');
SELECT pgtrickle.refresh_stream_table('ck_d');
SELECT c::text, n FROM ck_g ORDER BY 1;
SELECT ck_same('ck_g', 'SELECT c, count(*) AS n FROM ck GROUP BY c') AS g_ok,
       ck_same('ck_d', 'SELECT DISTINCT c FROM ck') AS d_ok;
BEGIN;
INSERT INTO ck VALUES (3, 'A');
UPDATE ck SET c = 'a' WHERE id = 1;
COMMIT;
SELECT pgtrickle.refresh_stream_table('ck_g');
SELECT pgtrickle.refresh_stream_table('ck_d');
SELECT n FROM ck_g;
SELECT (SELECT count(*) FROM ck_g) AS groups, (SELECT count(*) FROM ck_d) AS distinct_rows;
SELECT pgtrickle.drop_stream_table('ck_g');
SELECT pgtrickle.drop_stream_table('ck_d');
DROP TABLE ck;
DROP FUNCTION ck_same(regclass, text);
DROP EXTENSION citext;
