#!/usr/bin/env bash
# DIFFERENTIAL refresh vs FULL refresh vs REFRESH MATERIALIZED VIEW, in the same run.
#
# Loads `big` (BENCH_ROWS rows, PK on id, index on the join key k) and `dim` (BENCH_DIM_ROWS rows,
# PK), then for three queries
#   filter: SELECT id, a, b FROM big WHERE a % 10 = 0
#   join:   SELECT big.id, big.a, dim.id AS dim_id, dim.cat FROM big JOIN dim ON dim.id = big.k
#   agg:    SELECT g, count(*), sum(a), avg(b), min(a), max(b) FROM big GROUP BY g
#           (BENCH_GROUPS groups)
#   agg3:   SELECT g, count(*), sum(a), avg(b) FROM big GROUP BY g (not in the default set: the
#           algebraic aggregates alone, without the MIN/MAX rescans of a group that lost its extreme)
# creates a DIFFERENTIAL stream table, a FULL stream table and a materialized view. For each change
# rate (percent of big's rows, one third UPDATE, one third DELETE, one third INSERT, in one
# transaction) and each repetition it applies the changes, then times (psql \timing, one statement
# = one transaction each; and the CPU time of the backend running it, which other processes on
# the machine do not inflate) the DIFFERENTIAL refresh, the FULL refresh and REFRESH MATERIALIZED
# VIEW of each query, checks the DIFFERENTIAL stream table against its defining query (EXCEPT ALL both
# ways) and prints the medians and the ratios FULL/DIFF and MATVIEW/DIFF.
#
# The DIFFERENTIAL refreshes run with pg_trickle.differential_max_change_ratio =
# BENCH_MAX_CHANGE_RATIO (default 1.0, so that 10 % is still refreshed differentially); the column
# "mode@0.15" shows what the default ratio (0.15) would have chosen, the column "action" what the
# refresh history recorded. The scheduler is off (pg_trickle.enabled = off).
#
# Environment: BENCH_ROWS (1000000), BENCH_DIM_ROWS (100000), BENCH_GROUPS (10000),
# BENCH_RATES ("0.1 1 10", percent), BENCH_REPEATS (3), BENCH_QUERIES ("filter join agg"; also
# "window topn recursive", below),
# BENCH_MAX_CHANGE_RATIO (1.0), BENCH_SEED (0.42), plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/big_dim.sh"

RATES=${BENCH_RATES:-"0.1 1 10"}
REPEATS=${BENCH_REPEATS:-3}
QUERIES=${BENCH_QUERIES:-"filter join agg"}
MAX_RATIO=${BENCH_MAX_CHANGE_RATIO:-1.0}

# Window functions and recursion (issue 12; not in the default list):
#   window:    a window over PARTITION BY g (only the partitions a change touches are recomputed)
#   topn:      the 3 rows of each g with the smallest a (row_number, kept under WHERE rn <= 3)
#   recursive: the descendants, to depth 3, of big rows 1..10 (a row's parent is the row whose id
#              is its k): WITH RECURSIVE ... UNION ALL, recomputed when big changes, the levels
#              above see only its changed rows
QSQL[window]="SELECT id, g, a, rank() OVER (PARTITION BY g ORDER BY a) AS r, sum(b) OVER (PARTITION BY g) AS sum_b FROM big"
QCOLS[window]="id, g, a, r, sum_b"
QSQL[topn]="SELECT id, g, a, rn FROM (SELECT id, g, a, row_number() OVER (PARTITION BY g ORDER BY a, id) AS rn FROM big) s WHERE rn <= 3"
QCOLS[topn]="id, g, a, rn"
QSQL[recursive]="WITH RECURSIVE r(id, k, depth) AS (SELECT id, k, 0 FROM big WHERE id <= 10 UNION ALL SELECT b.id, b.k, r.depth + 1 FROM big b JOIN r ON b.k = r.id WHERE r.depth < 3) SELECT id, k, depth FROM r"
QCOLS[recursive]="id, k, depth"

bench_start_cluster "pg_trickle.enabled = off"
echo "differential_vs_full: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	"$(bench_psql_val "SHOW server_version"), pg_trickle $BENCH_SO_INFO," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "big: $ROWS rows, dim: $DIM_ROWS rows, $NGROUPS groups, rates (%): $RATES, repeats: $REPEATS," \
	"differential_max_change_ratio for the DIFFERENTIAL refreshes: $MAX_RATIO"

big_dim_load

for q in $QUERIES; do
	bench_log "creating st_${q}_diff, st_${q}_full, mv_${q}"
	bench_psql <<SQL
SELECT pgtrickle.create_stream_table('st_${q}_diff', \$q\$${QSQL[$q]}\$q\$,
                                     schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('st_${q}_full', \$q\$${QSQL[$q]}\$q\$,
                                     schedule => '1h', refresh_mode => 'FULL');
CREATE MATERIALIZED VIEW mv_${q} AS ${QSQL[$q]};
VACUUM ANALYZE st_${q}_diff;
VACUUM ANALYZE st_${q}_full;
VACUUM ANALYZE mv_${q};
SQL
done >/dev/null
bench_psql -At -c "SELECT 'rows in big: ' || count(*) FROM big" \
	-c "SELECT 'groups: ' || count(DISTINCT g) FROM big" >&2

RAW=$(mktemp)
trap 'rm -f "$RAW"; bench_cleanup' EXIT

check_st() { # q -> number of rows differing (both directions)
	local q=$1
	bench_psql_val "SELECT (SELECT count(*) FROM (SELECT ${QCOLS[$q]} FROM st_${q}_diff EXCEPT ALL (${QSQL[$q]})) x)
	              + (SELECT count(*) FROM ((${QSQL[$q]}) EXCEPT ALL SELECT ${QCOLS[$q]} FROM st_${q}_diff) y)"
}

last_action() { # stream table name -> action of its latest history row
	bench_psql_val "SELECT h.action || '/' || h.status || ' +' || coalesce(h.rows_inserted, 0)
	                       || ' -' || coalesce(h.rows_deleted, 0)
	                FROM pgtrickle.pgt_refresh_history h
	                JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
	                WHERE s.pgt_name = '$1' ORDER BY h.refresh_id DESC LIMIT 1"
}

MISMATCH=0
printf '%-6s %-3s %-6s %10s %10s %10s  %-13s %-34s %s\n' rate% rep query diff_ms full_ms mview_ms \
	mode@0.15 action check
for rate in $RATES; do
	for rep in $(seq 1 "$REPEATS"); do
		# The changes: random existing ids for UPDATE/DELETE (UPDATE moves rows between groups and
		# join partners too), new ids for INSERT.
		big_dim_change "$rate"
		for q in $QUERIES; do
			mode015=$(bench_psql_val "SELECT value FROM pgtrickle.explain_st('st_${q}_diff')
			                          WHERE property = 'effective_mode'")
			out=$(bench_psql <<SQL | bench_parse_timed
\\o /dev/null
SET pg_trickle.differential_max_change_ratio = $MAX_RATIO;
\\timing on
$(bench_timed_sql diff "SELECT pgtrickle.refresh_stream_table('st_${q}_diff');")
$(bench_timed_sql full "SELECT pgtrickle.refresh_stream_table('st_${q}_full');")
$(bench_timed_sql mview "REFRESH MATERIALIZED VIEW mv_${q};")
SQL
)
			read -r d dc f fc m mc < <(awk '{ w[$1] = $2; c[$1] = $3 }
				END { print w["diff"], c["diff"], w["full"], c["full"], w["mview"], c["mview"] }' <<<"$out")
			action=$(last_action "st_${q}_diff")
			diffs=$(check_st "$q")
			if [[ $diffs == 0 ]]; then check=OK; else
				check="MISMATCH($diffs rows)"
				MISMATCH=1
			fi
			printf '%-6s %-3s %-6s %10.1f %10.1f %10.1f  %-13s %-34s %s\n' "$rate" "$rep" "$q" \
				"$d" "$f" "$m" "$mode015" "$action" "$check"
			echo "$rate $q $d $f $m $dc $fc $mc" >>"$RAW"
		done
	done
done

summary() { # title, first column of RAW for DIFF (FULL and MATVIEW follow)
	local col=$2
	echo
	echo "$1"
	printf '%-6s %-6s %10s %10s %10s %10s %12s\n' rate% query diff_ms full_ms mview_ms FULL/DIFF \
		MATVIEW/DIFF
	for rate in $RATES; do
		for q in $QUERIES; do
			mapfile -t D < <(awk -v r="$rate" -v q="$q" -v c="$col" '$1 == r && $2 == q { print $c }' "$RAW")
			mapfile -t F < <(awk -v r="$rate" -v q="$q" -v c="$((col + 1))" '$1 == r && $2 == q { print $c }' "$RAW")
			mapfile -t M < <(awk -v r="$rate" -v q="$q" -v c="$((col + 2))" '$1 == r && $2 == q { print $c }' "$RAW")
			d=$(bench_median "${D[@]}")
			f=$(bench_median "${F[@]}")
			m=$(bench_median "${M[@]}")
			printf '%-6s %-6s %10.1f %10.1f %10.1f %10s %12s\n' "$rate" "$q" "$d" "$f" "$m" \
				"$(bench_ratio "$f" "$d")" "$(bench_ratio "$m" "$d")"
		done
	done
}
summary "Wall time (psql \\timing, commit included), medians over $REPEATS runs ($ROWS rows in big, $DIM_ROWS in dim, $NGROUPS groups; changes = 1/3 UPDATE, 1/3 DELETE, 1/3 INSERT):" 3
summary "Backend CPU time (same statements, medians):" 6
echo
for t in $(bench_psql_val "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'pgtrickle_changes' AND c.relkind = 'r' AND c.relname LIKE 'changes\\_%'"); do
	echo "change buffer $t: $(bench_psql_val "SELECT count(*) FROM $t") rows left"
done
if [[ $MISMATCH -ne 0 ]]; then
	echo "CORRECTNESS: MISMATCH found (see the check column)"
	exit 2
fi
echo "CORRECTNESS: every DIFFERENTIAL refresh matched its defining query"
