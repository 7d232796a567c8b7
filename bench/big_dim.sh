# The data, queries and changes shared by differential_vs_full.sh, auto_choice.sh and
# explain_delta.sh (sourced after lib.sh):
#   big: BENCH_ROWS rows (id bigint primary key, a, b in 0..999, g in BENCH_GROUPS groups, k a
#        dim id indexed, note text), dim: BENCH_DIM_ROWS rows (id primary key, cat, label);
#   QSQL/QCOLS: the queries filter, join, agg, agg3 and their column lists;
#   big_dim_load: creates and fills both tables (setseed BENCH_SEED), VACUUM ANALYZE;
#   big_dim_change RATE: one transaction changing RATE percent of big's rows, one third UPDATE of
#        random rows (which also moves them to another group and join partner), one third DELETE,
#        one third INSERT of new ids.
ROWS=${BENCH_ROWS:-1000000}
DIM_ROWS=${BENCH_DIM_ROWS:-100000}
NGROUPS=${BENCH_GROUPS:-10000}
SEED=${BENCH_SEED:-0.42}

declare -A QSQL QCOLS
QSQL[filter]="SELECT id, a, b FROM big WHERE a % 10 = 0"
QCOLS[filter]="id, a, b"
QSQL[join]="SELECT big.id, big.a, dim.id AS dim_id, dim.cat FROM big JOIN dim ON dim.id = big.k"
QCOLS[join]="id, a, dim_id, cat"
QSQL[agg]="SELECT g, count(*) AS cnt, sum(a) AS sum_a, avg(b) AS avg_b, min(a) AS min_a, max(b) AS max_b FROM big GROUP BY g"
QCOLS[agg]="g, cnt, sum_a, avg_b, min_a, max_b"
QSQL[agg3]="SELECT g, count(*) AS cnt, sum(a) AS sum_a, avg(b) AS avg_b FROM big GROUP BY g"
QCOLS[agg3]="g, cnt, sum_a, avg_b"

big_dim_load() {
	bench_log "loading big ($ROWS rows) and dim ($DIM_ROWS rows)"
	bench_psql >/dev/null <<SQL
SELECT setseed($SEED) AS seed \\gset
CREATE TABLE dim (id int PRIMARY KEY, cat text NOT NULL, label text NOT NULL);
INSERT INTO dim SELECT i, 'cat' || (i % 50), md5(i::text) FROM generate_series(1, $DIM_ROWS) i;
CREATE TABLE big (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL, g int NOT NULL,
                  k int NOT NULL, note text NOT NULL);
INSERT INTO big
SELECT i, (random() * 999)::int, (random() * 999)::int, (random() * ($NGROUPS - 1))::int,
       1 + (random() * ($DIM_ROWS - 1))::int, md5(i::text)
FROM generate_series(1, $ROWS) i;
CREATE INDEX big_k_idx ON big (k);
VACUUM ANALYZE dim;
VACUUM ANALYZE big;
SQL
}

big_dim_change() { # RATE (percent of big's rows)
	local n nu nd ni
	n=$(awk -v r="$1" -v n="$ROWS" 'BEGIN { printf "%d", n * r / 100 }')
	nu=$((n / 3))
	nd=$((n / 3))
	ni=$((n - nu - nd))
	bench_psql >/dev/null <<SQL
SELECT max(id) AS maxid FROM big \\gset
BEGIN;
UPDATE big SET a = a + 1, b = (b + 7) % 1000, g = (g + 1) % $NGROUPS, k = k % $DIM_ROWS + 1
WHERE id IN (SELECT 1 + (random() * (:maxid - 1))::bigint FROM generate_series(1, $nu));
DELETE FROM big
WHERE id IN (SELECT 1 + (random() * (:maxid - 1))::bigint FROM generate_series(1, $nd));
INSERT INTO big
SELECT :maxid + i, (random() * 999)::int, (random() * 999)::int,
       (random() * ($NGROUPS - 1))::int, 1 + (random() * ($DIM_ROWS - 1))::int, md5(i::text)
FROM generate_series(1, $ni) i;
COMMIT;
SQL
}
