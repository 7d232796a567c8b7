-- capture_toast: changed rows whose values are stored out of line (TOAST) reach the change buffer
-- whole. The capture trigger copies the transition tables' rows into the buffer; a value stored
-- out of line in the source is a pointer into the source's TOAST table there, which the buffer
-- must not keep (the source's row may be deleted and vacuumed long before a refresh reads it).
\set VERBOSITY default
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL

CREATE TABLE ct_src (id int PRIMARY KEY, k int, big text);
-- Out of line and uncompressed: 6,400 bytes per value.
ALTER TABLE ct_src ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO ct_src SELECT g, g % 3, repeat(md5(g::text), 200) FROM generate_series(1, 20) g;
SELECT pgtrickle.create_stream_table('ct_rows', 'SELECT id, k, big FROM ct_src', '1h',
                                     'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('ct_agg',
    'SELECT k, count(*) AS n, sum(length(big)) AS len, max(big) AS top FROM ct_src GROUP BY k',
    '1h', 'DIFFERENTIAL');

-- Each stream table against its query, by the text of every row.
CREATE FUNCTION ct_check() RETURNS TABLE (stream_table text, action text, same boolean)
LANGUAGE sql AS $$
    SELECT 'ct_rows', (SELECT action FROM pgtrickle.get_refresh_history('ct_rows', 1)),
           (SELECT md5(string_agg(format('%s|%s|%s', id, k, big), ',' ORDER BY id)) FROM ct_rows)
           IS NOT DISTINCT FROM
           (SELECT md5(string_agg(format('%s|%s|%s', id, k, big), ',' ORDER BY id)) FROM ct_src)
    UNION ALL
    SELECT 'ct_agg', (SELECT action FROM pgtrickle.get_refresh_history('ct_agg', 1)),
           (SELECT md5(string_agg(format('%s|%s|%s|%s', k, n, len, top), ',' ORDER BY k))
            FROM ct_agg)
           IS NOT DISTINCT FROM
           (SELECT md5(string_agg(format('%s|%s|%s|%s', k, n, len, top), ',' ORDER BY k))
            FROM (SELECT k, count(*) AS n, sum(length(big)) AS len, max(big) AS top
                  FROM ct_src GROUP BY k) q)
$$;
CREATE FUNCTION ct_refresh() RETURNS void LANGUAGE sql AS $$
    SELECT pgtrickle.refresh_stream_table('ct_rows');
    SELECT pgtrickle.refresh_stream_table('ct_agg');
$$;

-- The values the source keeps out of line are in the buffer in full.
INSERT INTO ct_src SELECT g, g % 3, repeat(md5(g::text), 200) FROM generate_series(21, 25) g;
CREATE FUNCTION ct_buffered(OUT buffered bigint, OUT shortest int)
LANGUAGE plpgsql AS $$
DECLARE
    s text;
    n text;
BEGIN
    SELECT buffer_schema, buffer_name INTO s, n
    FROM pgtrickle.pgt_change_tracking WHERE source_relid = 'ct_src'::regclass;
    EXECUTE format('SELECT count(*), min(length(big)) FROM %I.%I WHERE __pgt_action = %L',
                   s, n, 'I')
    INTO buffered, shortest;
END $$;
SELECT * FROM ct_buffered();
SELECT ct_refresh();
SELECT * FROM ct_check();

-- An UPDATE of another column: the transition tables hold the unchanged value as a pointer into
-- the source's TOAST table.
UPDATE ct_src SET k = k + 1 WHERE id % 2 = 0;
SELECT ct_refresh();
SELECT * FROM ct_check();

-- An UPDATE of the value itself, and a DELETE whose old rows are then vacuumed away from the
-- source (and its TOAST table) before the refresh reads the buffer.
UPDATE ct_src SET big = repeat(md5((id * 7)::text), 300) WHERE id % 3 = 0;
DELETE FROM ct_src WHERE id % 5 = 0;
VACUUM ct_src;
SELECT ct_refresh();
SELECT * FROM ct_check();

-- The row trigger of replica sessions (logical replication apply) takes the same path.
SET session_replication_role = replica;
UPDATE ct_src SET big = repeat(md5((id * 11)::text), 250) WHERE id % 4 = 1;
DELETE FROM ct_src WHERE id = 2;
INSERT INTO ct_src VALUES (100, 1, repeat('x', 9000));
RESET session_replication_role;
VACUUM ct_src;
SELECT ct_refresh();
SELECT * FROM ct_check();

SELECT pgtrickle.drop_stream_table('ct_agg');
SELECT pgtrickle.drop_stream_table('ct_rows');
DROP FUNCTION ct_check(), ct_refresh(), ct_buffered();
DROP TABLE ct_src;
