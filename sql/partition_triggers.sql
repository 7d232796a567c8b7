-- The capture triggers pg_trickle puts on the partitions of a captured partitioned table cannot
-- be dropped on their own (changes made through that partition would be lost); pg_trickle's own
-- DETACH / DROP handling still removes them.
CREATE TABLE pt (id int, r text) PARTITION BY LIST (r);
CREATE TABLE pt_a PARTITION OF pt FOR VALUES IN ('a');
CREATE TABLE pt_b PARTITION OF pt FOR VALUES IN ('b');
SELECT pgtrickle.create_stream_table('pt_st', 'SELECT id, r FROM pt', '1h', 'DIFFERENTIAL');
SELECT tgname AS member_ins FROM pg_catalog.pg_trigger
WHERE tgrelid = 'pt_a'::regclass AND tgname LIKE '\_\_pgt\_member\_%\_ins' \gset
SET pgt.stmt = :'member_ins';
DO $$
BEGIN
	EXECUTE format('DROP TRIGGER %I ON pt_a', current_setting('pgt.stmt'));
	RAISE NOTICE 'dropped';
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE '% %', SQLSTATE, regexp_replace(SQLERRM, '[0-9]+', '<oid>');
END $$;
INSERT INTO pt_a VALUES (1, 'a');
SELECT pgtrickle.refresh_stream_table('pt_st');
TABLE pt_st;
ALTER TABLE pt DETACH PARTITION pt_b;
SELECT count(*) AS member_triggers_left_on_detached FROM pg_catalog.pg_trigger
WHERE tgrelid = 'pt_b'::regclass AND tgname LIKE '\_\_pgt\_member\_%';
DROP TABLE pt_b;
DROP TABLE pt_a;
SELECT pgtrickle.drop_stream_table('pt_st');
DROP TABLE pt;
