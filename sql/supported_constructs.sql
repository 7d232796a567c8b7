-- supported_constructs: the registry of src/core/constructs.cpp agrees with the engine. Every
-- entry's example is created as a DIFFERENTIAL stream table over the tables below: a maintained
-- construct must be accepted and its operator must appear in explain_st's differential_operators;
-- a refused one must fail with 0A000 naming it. (The docs table generated from the registry is
-- checked by the unit test Constructs.DocsTableMatchesTheRegistry.)
\set VERBOSITY terse
CREATE TABLE cx_t (id int PRIMARY KEY, g int, v int, d date);
CREATE TABLE cx_u (id int PRIMARY KEY, t_id int, w int);
CREATE TABLE cx_e (src int, dst int, PRIMARY KEY (src, dst));
CREATE TABLE cx_j (id int PRIMARY KEY, doc jsonb, arr int[]);
CREATE TABLE cx_inh (id int);
CREATE TABLE cx_inh_child () INHERITS (cx_inh);
CREATE MATERIALIZED VIEW cx_mv AS SELECT id FROM cx_t;
INSERT INTO cx_t SELECT i, i % 3, i % 5, date '2026-01-01' + i FROM generate_series(1, 12) i;
INSERT INTO cx_u SELECT i, i % 12 + 1, i % 4 FROM generate_series(1, 20) i;
INSERT INTO cx_e VALUES (1, 2), (2, 3), (3, 1), (3, 4);
INSERT INTO cx_j VALUES (1, '[1, 2]', '{1,2}'), (2, '{"a": 1}', '{3}');

CREATE TABLE cx_outcome (n int, category text, construct text, registry text, operator text,
                         refusal text, accepted boolean, sqlstate text, message text,
                         operators text);
DO $$
DECLARE
    r record;
    n int := 0;
    ops text;
BEGIN
    FOR r IN SELECT * FROM pgtrickle.supported_constructs() LOOP
        n := n + 1;
        BEGIN
            PERFORM pgtrickle.create_stream_table('cx_st_' || n, r.example,
                                                  refresh_mode => 'DIFFERENTIAL');
            SELECT value INTO ops FROM pgtrickle.explain_st('cx_st_' || n)
            WHERE property = 'differential_operators';
            INSERT INTO cx_outcome VALUES (n, r.category, r.construct, r.differential, r.operator,
                                           r.refusal, true, NULL, NULL, ops);
            PERFORM pgtrickle.drop_stream_table('cx_st_' || n);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO cx_outcome VALUES (n, r.category, r.construct, r.differential, r.operator,
                                           r.refusal, false, SQLSTATE, SQLERRM, NULL);
        END;
    END LOOP;
END
$$;

-- Entries the engine disagrees with (none).
SELECT n, construct, registry, accepted, sqlstate, message, operator, operators
FROM cx_outcome
WHERE CASE registry
        WHEN 'DIFFERENTIAL' THEN NOT accepted OR position(operator IN operators) = 0
        ELSE accepted OR sqlstate <> '0A000'
             OR position(refusal IN message) = 0
             OR message NOT LIKE 'DIFFERENTIAL refresh does not support %'
      END
ORDER BY n;

-- Every entry was tried, both kinds exist, and every category has an entry.
SELECT registry, count(*) AS entries FROM cx_outcome GROUP BY registry ORDER BY registry;
SELECT category, count(*) AS entries FROM cx_outcome GROUP BY category ORDER BY category;

-- No stream table is left behind.
SELECT count(*) AS leftover FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'cx_st_%';

DROP TABLE cx_outcome;
DROP MATERIALIZED VIEW cx_mv;
DROP TABLE cx_t, cx_u, cx_e, cx_j, cx_inh_child, cx_inh;
