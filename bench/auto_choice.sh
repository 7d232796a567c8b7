#!/usr/bin/env bash
# AUTO's choice per refresh against the better of DIFFERENTIAL and FULL, in the same run.
#
# The tables and queries of bench/differential_vs_full.sh (`big`, `dim`; filter, join, agg3 by
# default). Per query three stream tables: DIFFERENTIAL, FULL and AUTO. For each change rate
# (percent of big's rows; one third UPDATE, one third DELETE, one third INSERT, one transaction)
# and repetition it applies the changes, then times the refresh of each (psql \timing, one
# statement = one transaction; and the backend's CPU time), checks the DIFFERENTIAL and the AUTO
# stream table against the query (EXCEPT ALL both ways), and prints what AUTO chose (the refresh
# history) and AUTO's time over the better of the other two. An untimed stream table over the same
# sources, refreshed after them, pays for trimming the change buffers.
#
# The DIFFERENTIAL refreshes run with pg_trickle.differential_max_change_ratio lifted
# (BENCH_MAX_CHANGE_RATIO, default 1000), so that DIFFERENTIAL is measured at every rate. The
# AUTO refreshes run with the default settings (above the default ratio 0.15 AUTO refreshes FULL
# without estimating), or with the ratio BENCH_AUTO_RATIO (e.g. 1000: the cost estimates alone
# decide) and pg_trickle.auto_full_min_saving = BENCH_MIN_SAVING when set. The column
# "mode@default" is explain_st's effective_mode under the default settings before the refresh;
# the estimates of both refreshes are listed after the table. The scheduler is off, and pg_trickle.max_buffer_rows = 0 (at 100 % the stream tables not
# refreshed yet would otherwise hold more than the default million buffered rows and be rebuilt).
#
# Environment: BENCH_ROWS (1000000), BENCH_DIM_ROWS (100000), BENCH_GROUPS (10000),
# BENCH_RATES ("0.1 10 50 100", percent), BENCH_REPEATS (2), BENCH_QUERIES ("filter join agg3"),
# BENCH_MAX_CHANGE_RATIO (1000), BENCH_AUTO_RATIO (unset), BENCH_MIN_SAVING (unset),
# BENCH_SEED (0.42), plus those of
# bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/big_dim.sh"

RATES=${BENCH_RATES:-"0.1 10 50 100"}
REPEATS=${BENCH_REPEATS:-2}
QUERIES=${BENCH_QUERIES:-"filter join agg3"}
MAX_RATIO=${BENCH_MAX_CHANGE_RATIO:-1000}
AUTO_RATIO_SQL="RESET pg_trickle.differential_max_change_ratio;"
if [[ -n ${BENCH_AUTO_RATIO:-} ]]; then
	AUTO_RATIO_SQL="SET pg_trickle.differential_max_change_ratio = ${BENCH_AUTO_RATIO};"
fi
MIN_SAVING_SQL=""
if [[ -n ${BENCH_MIN_SAVING:-} ]]; then
	MIN_SAVING_SQL="SET pg_trickle.auto_full_min_saving = ${BENCH_MIN_SAVING};"
fi

bench_start_cluster "pg_trickle.enabled = off" "pg_trickle.max_buffer_rows = 0"
echo "auto_choice: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	"$(bench_psql_val "SHOW server_version"), pg_trickle $BENCH_SO_INFO," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "big: $ROWS rows, dim: $DIM_ROWS rows, $NGROUPS groups, rates (%): $RATES, repeats: $REPEATS," \
	"differential_max_change_ratio: $MAX_RATIO (DIFFERENTIAL), ${BENCH_AUTO_RATIO:-default} (AUTO), auto_full_min_saving:" \
	"${BENCH_MIN_SAVING:-default ($(bench_psql_val "SHOW pg_trickle.auto_full_min_saving"))}"

big_dim_load

for q in $QUERIES; do
	bench_log "creating st_${q}_diff, st_${q}_full, st_${q}_auto"
	bench_psql <<SQL
SELECT pgtrickle.create_stream_table('st_${q}_diff', \$q\$${QSQL[$q]}\$q\$,
                                     schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('st_${q}_full', \$q\$${QSQL[$q]}\$q\$,
                                     schedule => '1h', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('st_${q}_auto', \$q\$${QSQL[$q]}\$q\$,
                                     schedule => '1h', refresh_mode => 'AUTO');
VACUUM ANALYZE st_${q}_diff;
VACUUM ANALYZE st_${q}_full;
VACUUM ANALYZE st_${q}_auto;
SQL
done >/dev/null
# One more reader of big's and dim's changes, refreshed last and untimed: the last reader to
# consume a change pays for trimming it from the buffer, which would otherwise be whichever of
# the timed stream tables is refreshed last.
bench_psql >/dev/null <<SQL
SELECT pgtrickle.create_stream_table('st_trim', 'SELECT big.id FROM big JOIN dim ON dim.id = big.k WHERE big.id < 0',
                                     schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SQL

RAW=$(mktemp)
EST=$(mktemp)
trap 'rm -f "$RAW" "$EST"; bench_cleanup' EXIT

check_st() { # st q -> number of rows differing (both directions)
	local st=$1 q=$2
	bench_psql_val "SELECT (SELECT count(*) FROM (SELECT ${QCOLS[$q]} FROM $st EXCEPT ALL (${QSQL[$q]})) x)
	              + (SELECT count(*) FROM ((${QSQL[$q]}) EXCEPT ALL SELECT ${QCOLS[$q]} FROM $st) y)"
}

last_action() { # stream table name -> action of its latest history row
	bench_psql_val "SELECT h.action FROM pgtrickle.pgt_refresh_history h
	                JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
	                WHERE s.pgt_name = '$1' ORDER BY h.refresh_id DESC LIMIT 1"
}

MISMATCH=0
printf '%-6s %-3s %-6s %10s %10s %10s  %-12s %-12s %8s %s\n' rate% rep query diff_ms full_ms \
	auto_ms mode@default auto_chose auto/best check
for rate in $RATES; do
	for rep in $(seq 1 "$REPEATS"); do
		big_dim_change "$rate"
		for q in $QUERIES; do
			mode_default=$(bench_psql_val "SELECT value FROM pgtrickle.explain_st('st_${q}_auto')
			                               WHERE property = 'effective_mode'")
			# Both estimates (no minimum saving, the ratio lifted), for the record.
			estimates=$(bench_psql -At -c "SET pg_trickle.differential_max_change_ratio = $MAX_RATIO" \
				-c "SET pg_trickle.auto_full_min_saving = 0" \
				-c "SELECT string_agg(property || ': ' || value, '; ' ORDER BY property)
				    FROM pgtrickle.explain_st('st_${q}_auto')
				    WHERE property IN ('auto_differential_cost', 'auto_full_cost')")
			echo "   estimates ($rate %, $q): $estimates" >>"$EST"
			out=$(bench_psql <<SQL | bench_parse_timed
\\o /dev/null
SET pg_trickle.differential_max_change_ratio = $MAX_RATIO;
$MIN_SAVING_SQL
\\timing on
$(bench_timed_sql diff "SELECT pgtrickle.refresh_stream_table('st_${q}_diff');")
$(bench_timed_sql full "SELECT pgtrickle.refresh_stream_table('st_${q}_full');")
$AUTO_RATIO_SQL
$(bench_timed_sql auto "SELECT pgtrickle.refresh_stream_table('st_${q}_auto');")
SQL
)
			read -r d dc f fc a ac < <(awk '{ w[$1] = $2; c[$1] = $3 }
				END { print w["diff"], c["diff"], w["full"], c["full"], w["auto"], c["auto"] }' <<<"$out")
			chose=$(last_action "st_${q}_auto")
			best=$(awk -v d="$d" -v f="$f" 'BEGIN { print (d < f ? d : f) }')
			check=OK
			for st in "st_${q}_diff" "st_${q}_auto"; do
				diffs=$(check_st "$st" "$q")
				if [[ $diffs != 0 ]]; then
					check="MISMATCH($st: $diffs rows)"
					MISMATCH=1
				fi
			done
			printf '%-6s %-3s %-6s %10.1f %10.1f %10.1f  %-12s %-12s %8s %s\n' "$rate" "$rep" "$q" \
				"$d" "$f" "$a" "$mode_default" "$chose" "$(bench_ratio "$a" "$best")" "$check"
			echo "$rate $q $d $f $a $dc $fc $ac" >>"$RAW"
		done
		bench_psql_val "SELECT pgtrickle.refresh_stream_table('st_trim')" >/dev/null
	done
done

summary() { # title, first column of RAW for DIFF (FULL and AUTO follow)
	local col=$2
	echo
	echo "$1"
	printf '%-6s %-6s %10s %10s %10s %12s\n' rate% query diff_ms full_ms auto_ms AUTO/best
	for rate in $RATES; do
		for q in $QUERIES; do
			mapfile -t D < <(awk -v r="$rate" -v q="$q" -v c="$col" '$1 == r && $2 == q { print $c }' "$RAW")
			mapfile -t F < <(awk -v r="$rate" -v q="$q" -v c="$((col + 1))" '$1 == r && $2 == q { print $c }' "$RAW")
			mapfile -t A < <(awk -v r="$rate" -v q="$q" -v c="$((col + 2))" '$1 == r && $2 == q { print $c }' "$RAW")
			d=$(bench_median "${D[@]}")
			f=$(bench_median "${F[@]}")
			a=$(bench_median "${A[@]}")
			best=$(awk -v d="$d" -v f="$f" 'BEGIN { print (d < f ? d : f) }')
			printf '%-6s %-6s %10.1f %10.1f %10.1f %12s\n' "$rate" "$q" "$d" "$f" "$a" \
				"$(bench_ratio "$a" "$best")"
		done
	done
}
echo
echo "AUTO's estimates before each refresh (explain_st with auto_full_min_saving = 0):"
cat "$EST"
summary "Wall time (psql \\timing, commit included), medians over $REPEATS runs:" 3
summary "Backend CPU time (same statements, medians):" 6
if [[ $MISMATCH -ne 0 ]]; then
	echo "CORRECTNESS: MISMATCH found (see the check column)"
	exit 2
fi
echo "CORRECTNESS: every DIFFERENTIAL and AUTO refresh matched its defining query"
