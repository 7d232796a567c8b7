-- composite_nulls: DIFFERENTIAL deletes and updates rows whose first column is a composite value
-- with a NULL field (a query fuzzer finding: `ROW(NULL, 'p')` is neither NULL nor NOT NULL, and
-- the row lookup of the apply never matched such rows, so they stayed in the stream table).
\set VERBOSITY default
\set SHOW_CONTEXT never
SET pg_trickle.differential_max_change_ratio = 1000;  -- every refresh below is DIFFERENTIAL
CREATE TYPE cn_pair AS (a int, b text COLLATE "C");
CREATE TABLE cn_src (id int PRIMARY KEY, k int, s text);
INSERT INTO cn_src VALUES (1, NULL, 'a'), (2, NULL, 'b'), (3, 1, 'c'), (4, 2, 'd'), (5, NULL, NULL);

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

-- First column: a composite with a NULL field, an all-NULL composite, and a NULL composite.
SELECT pgtrickle.create_stream_table('cn_st',
    'SELECT ROW(k, ''p'')::cn_pair AS c0, s FROM cn_src', 'calculated', 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('cn_st2',
    'SELECT CASE WHEN id = 5 THEN NULL ELSE ROW(k, s)::cn_pair END AS c0, id FROM cn_src',
    'calculated', 'DIFFERENTIAL');
DELETE FROM cn_src WHERE id IN (1, 5);
UPDATE cn_src SET s = 'bb' WHERE id = 2;
INSERT INTO cn_src VALUES (6, NULL, NULL);
SELECT pgtrickle.refresh_stream_tables(ARRAY['cn_st', 'cn_st2']);
SELECT action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s
    USING (pgt_id) WHERE s.pgt_name = 'cn_st' ORDER BY refresh_id DESC LIMIT 1;
SELECT * FROM cn_st ORDER BY s;
SELECT * FROM cn_st2 ORDER BY id;
SELECT pg_temp.same('cn_st', 'SELECT ROW(k, ''p'')::cn_pair AS c0, s FROM cn_src'),
       pg_temp.same('cn_st2',
           'SELECT CASE WHEN id = 5 THEN NULL ELSE ROW(k, s)::cn_pair END AS c0, id FROM cn_src');
DELETE FROM cn_src WHERE id = 6;
SELECT pgtrickle.refresh_stream_tables(ARRAY['cn_st', 'cn_st2']);
SELECT pg_temp.same('cn_st', 'SELECT ROW(k, ''p'')::cn_pair AS c0, s FROM cn_src'),
       pg_temp.same('cn_st2',
           'SELECT CASE WHEN id = 5 THEN NULL ELSE ROW(k, s)::cn_pair END AS c0, id FROM cn_src');

-- Grouped by a composite key with a NULL field (fuzzer seed 56164): the affected group
-- ROW(NULL, 'p') must be found, deleted and recomputed (it is neither NULL nor NOT NULL).
SELECT pgtrickle.create_stream_table('cn_grp',
    'SELECT ROW(k, ''p'')::cn_pair AS c0, count(*) AS n FROM cn_src GROUP BY 1',
    'calculated', 'DIFFERENTIAL');
INSERT INTO cn_src VALUES (7, NULL, 'x'), (8, NULL, 'y');
SELECT pgtrickle.refresh_stream_table('cn_grp');
DELETE FROM cn_src WHERE id = 7;
SELECT pgtrickle.refresh_stream_table('cn_grp');
SELECT * FROM cn_grp ORDER BY n, c0::text;
SELECT pg_temp.same('cn_grp', 'SELECT ROW(k, ''p'')::cn_pair AS c0, count(*) AS n FROM cn_src GROUP BY 1');
SELECT pgtrickle.drop_stream_table('cn_grp');

SELECT pgtrickle.drop_stream_table('cn_st');
SELECT pgtrickle.drop_stream_table('cn_st2');
DROP TABLE cn_src;
DROP TYPE cn_pair;
