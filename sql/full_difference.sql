-- full_difference: a FULL refresh of a populated stream table that another stream table reads
-- deletes the stored rows that are not in the query's result and inserts the result rows that are
-- not stored, by binary identity and with multiplicity: unchanged rows are not rewritten (their
-- xmin stays), 1.0 and 1.00 or 'a' and 'A' under a case-insensitive collation are different rows,
-- duplicates keep their count. Without a reader, FULL deletes and inserts every row.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE COLLATION fd_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE fd_src (id int PRIMARY KEY, n numeric, s text COLLATE fd_ci, j json);
INSERT INTO fd_src SELECT g, g % 5, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, '[1]'
FROM generate_series(1, 100) g;
SELECT pgtrickle.create_stream_table('fd_st', 'SELECT n, s, j::text AS j FROM fd_src',
                                     'calculated', 'FULL');
-- A query whose first column has no "=": the json column.
SELECT pgtrickle.create_stream_table('fd_json', 'SELECT j, n FROM fd_src', 'calculated', 'FULL');
-- Without a reader: every row is replaced.
SELECT pgtrickle.create_stream_table('fd_plain', 'SELECT n FROM fd_src', 'calculated', 'FULL');
-- The readers.
SELECT pgtrickle.create_stream_table('fd_st_reader', 'SELECT n FROM fd_st', 'calculated',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('fd_json_reader', 'SELECT n FROM fd_json', 'calculated',
                                     'DIFFERENTIAL');
SELECT count(*), count(DISTINCT xmin) FROM fd_st;

CREATE FUNCTION pg_temp.same(st text, q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    stored bytea[];
    expected bytea[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM %s __r', st) INTO stored;
    EXECUTE format('SELECT coalesce(array_agg(pg_catalog.record_send(__r) '
                   'ORDER BY pg_catalog.record_send(__r)), ''{}'') FROM (%s) __r', q) INTO expected;
    RETURN stored = expected;
END $$;

-- A source changed but the result did not: the FULL refresh writes nothing.
UPDATE fd_src SET j = j WHERE id = 10;
SELECT pgtrickle.refresh_stream_table('fd_st');
SELECT h.action, h.rows_deleted, h.rows_inserted
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'fd_st' ORDER BY refresh_id DESC LIMIT 1;

-- Changes that "=" does not see (scale, case), a deleted duplicate, a new duplicate.
UPDATE fd_src SET n = 1.0 WHERE id = 1;
UPDATE fd_src SET s = 'A' WHERE id = 2;
DELETE FROM fd_src WHERE id = 5;
INSERT INTO fd_src VALUES (101, 1, 'b', '[1]');
SELECT pgtrickle.refresh_stream_tables(ARRAY['fd_st', 'fd_json', 'fd_plain']);
SELECT s.pgt_name, h.action, h.rows_deleted, h.rows_inserted
FROM pgtrickle.pgt_stream_tables s, LATERAL (SELECT * FROM pgtrickle.pgt_refresh_history h
    WHERE h.pgt_id = s.pgt_id ORDER BY refresh_id DESC LIMIT 1) h
WHERE s.pgt_name IN ('fd_st', 'fd_json', 'fd_plain') ORDER BY 1;
-- Only the changed rows are new row versions.
SELECT count(*) FILTER (WHERE xmin::text <> (SELECT min(xmin::text) FROM fd_st)) AS rewritten
FROM fd_st;
SELECT pg_temp.same('fd_st', 'SELECT n, s, j::text AS j FROM fd_src'),
       pg_temp.same('fd_json', 'SELECT j, n FROM fd_src');
SELECT n::text, s, count(*) FROM fd_st WHERE n = 1 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT s COLLATE "C" AS s, count(*) FROM fd_st WHERE n = 2 GROUP BY 1 ORDER BY 1;

-- explain_st shows the statement a FULL refresh runs.
SELECT s.name, e.value LIKE '%record_image_eq%' AS difference
FROM unnest(ARRAY['fd_st', 'fd_plain']) AS s(name), pgtrickle.explain_st(s.name) e
WHERE e.property = 'full_refresh_sql' ORDER BY 1;
-- The readers are exact.
SELECT pgtrickle.refresh_stream_tables(ARRAY['fd_st_reader', 'fd_json_reader']);
SELECT pg_temp.same('fd_st_reader', 'SELECT n FROM fd_st'),
       pg_temp.same('fd_json_reader', 'SELECT n FROM fd_json');

SELECT pgtrickle.drop_stream_table('fd_st_reader');
SELECT pgtrickle.drop_stream_table('fd_json_reader');
SELECT pgtrickle.drop_stream_table('fd_plain');

SELECT pgtrickle.drop_stream_table('fd_st');
SELECT pgtrickle.drop_stream_table('fd_json');
DROP TABLE fd_src;
DROP COLLATION fd_ci;
