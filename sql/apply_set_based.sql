-- apply_set_based: a DIFFERENTIAL refresh of a query whose first column has no "=" (json) finds
-- the stored rows to delete with one hash join of the delta's negative rows to the storage (row
-- hash over the hashable columns, record_image_eq), numbered per delta row so that a weight of -w
-- deletes exactly w identical copies, instead of scanning the storage once per delta row. A first
-- column with "=" keeps the index lookup per delta row; no hashable column keeps the scan.
-- Exactness: binary identity (1.0 vs 1.00 are different rows), duplicates, NULL first columns, a
-- first column that selects many rows, columns without a hash or without "=".
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL
CREATE TABLE asb_src (id serial PRIMARY KEY, cat text, n numeric, j json);

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

-- Duplicates under one non-selective first column; 1.0 and 1.00 differ; NULL first columns.
INSERT INTO asb_src (cat, n, j)
SELECT 'x', 1.0, '{"a": 1}'::json FROM generate_series(1, 3)
UNION ALL SELECT 'x', 1.00, '{"a": 1}' FROM generate_series(1, 2)
UNION ALL SELECT 'x', g, '[1]'::json FROM generate_series(1, 200) g
UNION ALL SELECT NULL, 2.5, NULL FROM generate_series(1, 3)
UNION ALL SELECT NULL, NULL, '{}' FROM generate_series(1, 2);
SELECT pgtrickle.create_stream_table('asb_rows', 'SELECT cat, n FROM asb_src',
                                     'calculated', 'DIFFERENTIAL');
-- First column json: no "=", the row hash over id alone.
SELECT pgtrickle.create_stream_table('asb_json', 'SELECT j, id FROM asb_src',
                                     'calculated', 'DIFFERENTIAL');
-- No column with "=" or a hash: each delta row is looked up by a lateral scan.
SELECT pgtrickle.create_stream_table('asb_lateral', 'SELECT j FROM asb_src',
                                     'calculated', 'DIFFERENTIAL');

-- The apply looks rows up by the first column's "=" (asb_rows), hash-joins on the row hash
-- (asb_json), or scans per delta row (asb_lateral).
SELECT s.name,
       e.value LIKE '%hash_record(ROW(s.cat, s.n))%' AS row_hash,
       e.value LIKE '%hash_record(ROW(s.id))%' AS id_hash,
       e.value LIKE '%PARTITION BY m.__pgt_i%' AS numbered,
       e.value LIKE '%CROSS JOIN LATERAL%' AS lateral
FROM unnest(ARRAY['asb_rows', 'asb_json', 'asb_lateral']) AS s(name),
     pgtrickle.explain_st(s.name) e
WHERE e.property = 'differential_apply_sql' ORDER BY 1;

-- Delete two of the three 1.0 copies (the 1.00 copies stay), one of the NULL-first-column rows,
-- update one 1.00 copy to 1.000, and add a fourth 1.0 copy.
DELETE FROM asb_src WHERE id IN (SELECT id FROM asb_src WHERE n = 1 AND scale(n) = 1 LIMIT 2);
DELETE FROM asb_src WHERE id IN (SELECT id FROM asb_src WHERE cat IS NULL AND n = 2.5 LIMIT 1);
UPDATE asb_src SET n = 1.000 WHERE id = (SELECT min(id) FROM asb_src WHERE scale(n) = 2);
INSERT INTO asb_src (cat, n, j) VALUES ('x', 1.0, '{"a": 1}');
SELECT pgtrickle.refresh_stream_tables(ARRAY['asb_rows', 'asb_json', 'asb_lateral']);
SELECT h.action, h.rows_deleted, h.rows_inserted
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'asb_rows' ORDER BY refresh_id DESC LIMIT 1;
SELECT n::text, count(*) FROM asb_rows WHERE n = 1 GROUP BY 1 ORDER BY 1;
SELECT pg_temp.same('asb_rows', 'SELECT cat, n FROM asb_src'),
       pg_temp.same('asb_json', 'SELECT j, id FROM asb_src'),
       pg_temp.same('asb_lateral', 'SELECT j FROM asb_src');

-- Delete the big 'x' group's rows above 1 but 150, and every NULL-first-column row.
DELETE FROM asb_src WHERE cat IS NULL OR (cat = 'x' AND n > 1 AND n <> 150);
SELECT pgtrickle.refresh_stream_tables(ARRAY['asb_rows', 'asb_json', 'asb_lateral']);
SELECT h.action, h.rows_deleted, h.rows_inserted
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'asb_rows' ORDER BY refresh_id DESC LIMIT 1;
SELECT count(*) FROM asb_rows;
SELECT pg_temp.same('asb_rows', 'SELECT cat, n FROM asb_src'),
       pg_temp.same('asb_json', 'SELECT j, id FROM asb_src'),
       pg_temp.same('asb_lateral', 'SELECT j FROM asb_src');

SELECT pgtrickle.drop_stream_table('asb_rows');
SELECT pgtrickle.drop_stream_table('asb_json');
SELECT pgtrickle.drop_stream_table('asb_lateral');
DROP TABLE asb_src;
