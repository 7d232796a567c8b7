-- A stream table whose output column has a non-default collation keeps its shape when its source
-- is altered: the storage column (text COLLATE "C") is the same column as the query's, so no
-- rebuild is requested and the column order stays the query's.
SET pg_trickle.differential_max_change_ratio = 1000;
CREATE TABLE cs_src (id int PRIMARY KEY, s text COLLATE "C", f float8);
INSERT INTO cs_src VALUES (1, 'a', 0.5), (2, 'B', 1.5);
SELECT pgtrickle.create_stream_table('cs_st', 'SELECT id, s, f FROM cs_src', '1h', 'DIFFERENTIAL');
ALTER TABLE cs_src ADD COLUMN note text;
SELECT needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cs_st';
INSERT INTO cs_src VALUES (3, 'c', 2.5);
SELECT pgtrickle.refresh_stream_table('cs_st');
SELECT action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name = 'cs_st' ORDER BY refresh_id DESC LIMIT 1;
SELECT attname, pg_catalog.format_type(atttypid, atttypmod), attcollation::regcollation
FROM pg_catalog.pg_attribute WHERE attrelid = 'cs_st'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;
TABLE cs_st ORDER BY id;
-- alter_stream_table with the same query keeps the storage as it is.
SELECT pgtrickle.alter_stream_table('cs_st', query => 'SELECT id, s, f FROM cs_src');
SELECT attname FROM pg_catalog.pg_attribute
WHERE attrelid = 'cs_st'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT pgtrickle.drop_stream_table('cs_st');
DROP TABLE cs_src;
