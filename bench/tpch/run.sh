#!/usr/bin/env bash
# TPC-H: per query, the refresh of a stream table vs REFRESH MATERIALIZED VIEW of the same query,
# in the same run, after RF1 + RF2 + the update stream at 0.1 % and 1 % of the orders per cycle.
#
# Loads the TPC-H data at scale factor BENCH_SF with the SQL generator of this directory
# (schema.sql, tpch.sql, constraints.sql; the load and index times are printed), then creates each
# query of queries/qNN.sql as a stream table in DIFFERENTIAL mode, or AUTO when DIFFERENTIAL
# refuses it (the refusal is printed; AUTO then refreshes FULL), and as a materialized view. For
# each change rate: BENCH_WARMUP cycles, then BENCH_REPEATS measured cycles; a cycle applies
# tpch.rf1, tpch.rf2 and tpch.updates at that fraction of the orders in one transaction (timed),
# then times, per query, the stream table's refresh and REFRESH MATERIALIZED VIEW (psql \timing,
# one statement = one transaction; and the CPU time of the backend running it). After the last
# cycle of each rate, every DIFFERENTIAL stream table is compared with its query by identity
# (row text multisets under extra_float_digits = 3); the script exits with status 2 on a mismatch.
# Prints, per rate, the medians and the ratio matview / stream table (wall and CPU), the refresh
# action the history recorded, and the median ratio of the DIFFERENTIAL queries.
#
# The refreshes run with pg_trickle.differential_max_change_ratio = 1000 (DIFFERENTIAL stays
# DIFFERENTIAL whatever the share of changed rows); the scheduler is off. A stream-table refresh
# that takes longer than BENCH_TIMEOUT seconds is cancelled (statement_timeout) and shown as
# ">BENCH_TIMEOUT s" (its changes stay pending for the next cycle); 0 means no limit.
#
# Environment: BENCH_SF (1), BENCH_SEED (1), BENCH_RATES ("0.1 1", percent of the orders),
# BENCH_WARMUP (1), BENCH_REPEATS (3), BENCH_QUERIES ("1 2 ... 22"), BENCH_TIMEOUT (0), plus those
# of bench/lib.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

SF=${BENCH_SF:-1}
SEED=${BENCH_SEED:-1}
RATES=${BENCH_RATES:-"0.1 1"}
WARMUP=${BENCH_WARMUP:-1}
REPEATS=${BENCH_REPEATS:-3}
QUERIES=${BENCH_QUERIES:-$(seq -s ' ' 1 22)}
TIMEOUT=${BENCH_TIMEOUT:-0}

bench_start_cluster "pg_trickle.enabled = off"
echo "tpch: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(bench_psql_val "SHOW server_version")," \
	"pg_trickle $BENCH_SO_INFO, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "SF $SF, seed $SEED, rates (% of the orders per cycle): $RATES, warm-up cycles: $WARMUP," \
	"measured cycles: $REPEATS"

bench_psql -c "ALTER DATABASE $BENCH_DB SET pg_trickle.differential_max_change_ratio = 1000" >/dev/null
# The files are read by psql (running as postgres when root): pass them on stdin.
bench_psql <"$HERE/schema.sql" >/dev/null
bench_psql <"$HERE/tpch.sql" >/dev/null
bench_log "generating SF $SF"
t0=$(date +%s.%N)
bench_psql -c "SELECT tpch.generate($SF, $SEED)" >/dev/null
t1=$(date +%s.%N)
bench_psql <"$HERE/constraints.sql" >/dev/null
bench_psql -c "VACUUM ANALYZE" >/dev/null
t2=$(date +%s.%N)
echo "load: generate $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
	"foreign keys + indexes + VACUUM ANALYZE $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s;" \
	"$(bench_psql_val "SELECT 'lineitem ' || (SELECT count(*) FROM lineitem) || ' rows, orders ' ||
	                          (SELECT count(*) FROM orders) || ' rows, database ' ||
	                          pg_size_pretty(pg_database_size(current_database()))")"

qfile() { printf '%s/queries/q%02d.sql' "$HERE" "$1"; }
qsql() { grep -v '^--' "$(qfile "$1")"; }
qname() { printf 'q%02d' "$1"; }

declare -A MODE REASON
for q in $QUERIES; do
	n=$(qname "$q")
	sql=$(qsql "$q")
	if err=$(bench_psql -c "SELECT pgtrickle.create_stream_table('st_$n', \$q\$$sql\$q\$,
	                         schedule => '24h', refresh_mode => 'DIFFERENTIAL')" 2>&1 >/dev/null); then
		MODE[$q]=DIFFERENTIAL
	else
		MODE[$q]=AUTO
		REASON[$q]=$(sed -n 's/^ERROR: *//p' <<<"$err" | head -n 1)
		bench_psql -c "SELECT pgtrickle.create_stream_table('st_$n', \$q\$$sql\$q\$,
		               schedule => '24h', refresh_mode => 'AUTO')" >/dev/null
	fi
	bench_psql -c "CREATE MATERIALIZED VIEW mv_$n AS $sql" >/dev/null
	bench_log "Q$q: ${MODE[$q]}${REASON[$q]:+ (refused: ${REASON[$q]})}"
done
bench_psql -c "VACUUM ANALYZE" >/dev/null

RAW=$(mktemp)
trap 'rm -f "$RAW"; bench_cleanup' EXIT

last_action() { # stream table -> action of its latest history row
	bench_psql_val "SELECT h.action FROM pgtrickle.pgt_refresh_history h
	                JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
	                WHERE s.pgt_name = '$1' ORDER BY h.refresh_id DESC LIMIT 1"
}

check_identity() { # q -> number of rows whose count differs between st_qNN and its query
	local n sql
	n=$(qname "$1")
	sql=$(qsql "$1")
	bench_psql -At -c "SET extra_float_digits = 3" -c "
	  SELECT count(*) FROM
	    (SELECT o::text COLLATE \"C\" AS r, count(*) AS c FROM st_$n o GROUP BY 1) l
	    FULL JOIN (SELECT o::text COLLATE \"C\" AS r, count(*) AS c FROM ($sql) o GROUP BY 1) r
	    USING (r)
	  WHERE l.c IS DISTINCT FROM r.c"
}

# Like bench_timed_sql (lib.sh), under statement_timeout = TIMEOUT; a cancelled statement echoes
# "@TIMEOUT tag".
timed_refresh() {
	cat <<SQL
SET statement_timeout = '${TIMEOUT}s';
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS pgt_c0 \\gset
\\echo @@ $1
$2
\\if :ERROR
\\echo @TIMEOUT $1
\\endif
RESET statement_timeout;
SELECT round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :pgt_c0) / 1e6, 3) AS pgt_cpu \\gset
\\echo @CPU $1 :pgt_cpu
SQL
}

ratio3() { # A / B with 3 significant digits ("-" when B is 0): DIFFERENTIAL can be 100x slower
	awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "-"; else printf "%.3g\n", a/b }'
}

MISMATCH=0
for rate in $RATES; do
	fraction=$(awk -v r="$rate" 'BEGIN { printf "%g", r / 100 }')
	for cycle in $(seq 1 $((WARMUP + REPEATS))); do
		c=$(awk -v r="$rate" -v c="$cycle" 'BEGIN { printf "%d", r * 1000 + c }')
		ts=$(date +%s%N)
		bench_psql -c "BEGIN" -c "SELECT tpch.rf1($fraction, $c)" -c "SELECT tpch.rf2($fraction)" \
			-c "SELECT tpch.updates($fraction, $c)" -c "COMMIT" >/dev/null
		te=$(date +%s%N)
		script="\\o /dev/null
\\set ON_ERROR_STOP 0
\\timing on"
		for q in $QUERIES; do
			n=$(qname "$q")
			script+=$'\n'"$(timed_refresh "st_$q" "SELECT pgtrickle.refresh_stream_table('st_$n');")"
			script+=$'\n'"$(bench_timed_sql "mv_$q" "REFRESH MATERIALIZED VIEW mv_$n;")"
		done
		raw=$(bench_psql <<<"$script" 2>&1)
		out=$(bench_parse_timed <<<"$raw")
		timedout=$(awk '/^@TIMEOUT / { print $2 }' <<<"$raw")
		measured=$((cycle > WARMUP))
		line="rate $rate% cycle $cycle"
		[[ $measured == 1 ]] || line+=" (warm-up)"
		line+=":"
		line+=" changes $(((te - ts) / 1000000)) ms;"
		for q in $QUERIES; do
			read -r sw sc mw mc < <(awk -v s="st_$q" -v m="mv_$q" '
				$1 == s { sw = $2; sc = $3 } $1 == m { mw = $2; mc = $3 }
				END { print sw, sc, mw, mc }' <<<"$out")
			action=$(last_action "st_$(qname "$q")")
			if grep -qx "st_$q" <<<"$timedout"; then
				sw=$((TIMEOUT * 1000))
				sc=$sw
				action=TIMEOUT
			fi
			if [[ $measured == 1 ]]; then echo "$rate $q $sw $sc $mw $mc $action" >>"$RAW"; fi
			line+=" Q$q $(printf '%.0f' "$sw")/$(printf '%.0f' "$mw")"
		done
		bench_log "$line (stream table/matview ms)"
	done
	for q in $QUERIES; do
		[[ ${MODE[$q]} == DIFFERENTIAL ]] || continue
		# A stream table whose last refresh was cancelled is behind its query by design.
		if awk -v r="$rate" -v q="$q" '$1 == r && $2 == q && $7 == "TIMEOUT" { f = 1 } END { exit !f }' "$RAW"; then
			echo "not checked: Q$q (a refresh was cancelled at the time limit at $rate %)"
			continue
		fi
		d=$(check_identity "$q")
		if [[ $d != 0 ]]; then
			echo "MISMATCH: Q$q differs from its query in $d rows after the $rate % cycles"
			MISMATCH=1
		fi
	done
done

echo
for rate in $RATES; do
	echo "Change per cycle: $rate % of the orders (RF1 + RF2 + updates); medians of $REPEATS cycles" \
		"after $WARMUP warm-up; wall time (psql \\timing, commit included) and backend CPU time:"
	printf '| %-5s | %-12s | %-12s | %12s | %12s | %9s | %9s |\n' query mode action "refresh ms" \
		"matview ms" "mv/st" "mv/st CPU"
	echo "|---|---|---|---:|---:|---:|---:|"
	ratios=()
	for q in $QUERIES; do
		mapfile -t SW < <(awk -v r="$rate" -v q="$q" '$1 == r && $2 == q { print $3 }' "$RAW")
		mapfile -t SC < <(awk -v r="$rate" -v q="$q" '$1 == r && $2 == q { print $4 }' "$RAW")
		mapfile -t MW < <(awk -v r="$rate" -v q="$q" '$1 == r && $2 == q { print $5 }' "$RAW")
		mapfile -t MC < <(awk -v r="$rate" -v q="$q" '$1 == r && $2 == q { print $6 }' "$RAW")
		actions=$(awk -v r="$rate" -v q="$q" '$1 == r && $2 == q { print $7 }' "$RAW" | sort -u |
			paste -sd/)
		sw=$(bench_median "${SW[@]}")
		sc=$(bench_median "${SC[@]}")
		mw=$(bench_median "${MW[@]}")
		mc=$(bench_median "${MC[@]}")
		ratio=$(ratio3 "$mw" "$sw")
		if [[ ${MODE[$q]} == DIFFERENTIAL ]]; then ratios+=("$ratio"); fi # upper bound on timeout
		swt=$(printf '%.1f' "$sw")
		cratio=$(ratio3 "$mc" "$sc")
		if [[ $actions == *TIMEOUT* ]]; then # at least one refresh was cancelled at the limit
			swt=">$swt"
			ratio="<$ratio"
			cratio="<$cratio"
		fi
		printf '| Q%02d   | %-12s | %-12s | %12s | %12.1f | %9s | %9s |\n' "$q" "${MODE[$q]}" \
			"$actions" "$swt" "$mw" "$ratio" "$cratio"
	done
	if [[ ${#ratios[@]} -gt 0 ]]; then
		echo "DIFFERENTIAL queries (${#ratios[@]}): median matview/refresh $(bench_median "${ratios[@]}")x," \
			"lowest $(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)x"
	fi
	echo
done
echo "Refused in DIFFERENTIAL (created AUTO, which refreshes them FULL):"
for q in $QUERIES; do
	if [[ ${MODE[$q]} == AUTO ]]; then printf '  Q%02d: %s\n' "$q" "${REASON[$q]}"; fi
done
if [[ $MISMATCH -ne 0 ]]; then
	echo "CORRECTNESS: MISMATCH found"
	exit 2
fi
echo "CORRECTNESS: every DIFFERENTIAL stream table matched its query by identity after each rate"
