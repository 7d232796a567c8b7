#!/usr/bin/env bash
# Nexmark: per query, the refresh of a stream table vs REFRESH MATERIALIZED VIEW of the same query,
# in the same run, after cycles of new events plus updates and deletes.
#
# Loads BENCH_EVENTS events with the SQL generator of this directory (schema.sql, nexmark.sql,
# indexes.sql; the load time is printed), then creates each query of queries/qNN.sql as a stream
# table in DIFFERENTIAL mode, or AUTO when DIFFERENTIAL refuses it (the refusal is printed; AUTO
# then refreshes FULL), and as a materialized view. For each batch size: BENCH_WARMUP cycles, then
# BENCH_REPEATS measured cycles; a cycle is nexmark.step(batch, cycle) in one transaction (timed):
# the next `batch` events (2 % persons, 6 % auctions, 92 % bids) plus price corrections (UPDATE)
# and retractions (DELETE) of 1 % as many bids, moves of persons, recategorized and cancelled
# auctions. Then, per query, the stream table's refresh and REFRESH MATERIALIZED VIEW are timed
# (psql \timing, one statement = one transaction; and the CPU time of the backend running it).
# After EVERY cycle, every stream table is compared with its query by identity (row text
# multisets under extra_float_digits = 3); the script exits with status 2 on a mismatch.
# Prints, per batch size, the medians and the ratio matview / stream table (wall and CPU), the
# refresh action the history recorded, and the median ratio of the DIFFERENTIAL queries.
#
# The refreshes run with pg_trickle.differential_max_change_ratio = 1000 (DIFFERENTIAL stays
# DIFFERENTIAL whatever the share of changed rows); the scheduler is off.
#
# Environment: BENCH_EVENTS (1000000), BENCH_SEED (1), BENCH_BATCHES ("1000 10000", events per
# cycle), BENCH_WARMUP (1), BENCH_REPEATS (3), BENCH_QUERIES (the file names without .sql, default
# all of queries/), BENCH_CHECK (1: compare after every cycle; 0: only after the last cycle of each
# batch size), plus those of bench/lib.sh (PG_BINDIR, BENCH_PORT, ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

EVENTS=${BENCH_EVENTS:-1000000}
SEED=${BENCH_SEED:-1}
BATCHES=${BENCH_BATCHES:-"1000 10000"}
WARMUP=${BENCH_WARMUP:-1}
REPEATS=${BENCH_REPEATS:-3}
QUERIES=${BENCH_QUERIES:-$(cd "$HERE/queries" && ls q*.sql | sed 's/\.sql$//' | paste -sd' ')}
CHECK=${BENCH_CHECK:-1}

bench_start_cluster "pg_trickle.enabled = off"
echo "nexmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(bench_psql_val "SHOW server_version")," \
	"pg_trickle $BENCH_SO_INFO, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "events $EVENTS, seed $SEED, batches (events per cycle): $BATCHES, warm-up cycles: $WARMUP," \
	"measured cycles: $REPEATS"

bench_psql -c "ALTER DATABASE $BENCH_DB SET pg_trickle.differential_max_change_ratio = 1000" >/dev/null
bench_psql <"$HERE/schema.sql" >/dev/null
bench_psql <"$HERE/nexmark.sql" >/dev/null
bench_log "generating $EVENTS events"
t0=$(date +%s.%N)
bench_psql -c "SELECT nexmark.generate($EVENTS, $SEED)" >/dev/null
t1=$(date +%s.%N)
bench_psql <"$HERE/indexes.sql" >/dev/null
bench_psql -c "VACUUM ANALYZE" >/dev/null
t2=$(date +%s.%N)
echo "load: generate $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
	"indexes + VACUUM ANALYZE $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s;" \
	"$(bench_psql_val "SELECT 'bid ' || (SELECT count(*) FROM bid) || ', auction ' ||
	                          (SELECT count(*) FROM auction) || ', person ' ||
	                          (SELECT count(*) FROM person) || ' rows, database ' ||
	                          pg_size_pretty(pg_database_size(current_database()))")"

qsql() { grep -v '^--' "$HERE/queries/$1.sql"; }

declare -A MODE REASON
for q in $QUERIES; do
	sql=$(qsql "$q")
	if err=$(bench_psql -c "SELECT pgtrickle.create_stream_table('st_$q', \$q\$$sql\$q\$,
	                         schedule => '24h', refresh_mode => 'DIFFERENTIAL')" 2>&1 >/dev/null); then
		MODE[$q]=DIFFERENTIAL
	else
		MODE[$q]=AUTO
		REASON[$q]=$(sed -n 's/^ERROR: *//p' <<<"$err" | head -n 1)
		bench_psql -c "SELECT pgtrickle.create_stream_table('st_$q', \$q\$$sql\$q\$,
		               schedule => '24h', refresh_mode => 'AUTO')" >/dev/null
	fi
	bench_psql -c "CREATE MATERIALIZED VIEW mv_$q AS $sql" >/dev/null
	bench_log "$q: ${MODE[$q]}${REASON[$q]:+ (refused: ${REASON[$q]})}," \
		"$(bench_psql_val "SELECT count(*) FROM st_$q") rows"
done
bench_psql -c "VACUUM ANALYZE" >/dev/null

RAW=$(mktemp)
trap 'rm -f "$RAW"; bench_cleanup' EXIT

last_action() { # stream table -> action of its latest history row
	bench_psql_val "SELECT h.action FROM pgtrickle.pgt_refresh_history h
	                JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
	                WHERE s.pgt_name = '$1' ORDER BY h.refresh_id DESC LIMIT 1"
}

check_identity() { # q -> number of rows whose count differs between st_q and its query
	local sql
	sql=$(qsql "$1")
	bench_psql -At -c "SET extra_float_digits = 3" -c "
	  SELECT count(*) FROM
	    (SELECT o::text COLLATE \"C\" AS r, count(*) AS c FROM st_$1 o GROUP BY 1) l
	    FULL JOIN (SELECT o::text COLLATE \"C\" AS r, count(*) AS c FROM ($sql) o GROUP BY 1) r
	    USING (r)
	  WHERE l.c IS DISTINCT FROM r.c"
}

ratio3() { # A / B with 3 significant digits ("-" when B is 0)
	awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "-"; else printf "%.3g\n", a/b }'
}

MISMATCH=0
cycle=0
for batch in $BATCHES; do
	for i in $(seq 1 $((WARMUP + REPEATS))); do
		cycle=$((cycle + 1))
		ts=$(date +%s%N)
		changed=$(bench_psql -At -c "BEGIN" -c "SELECT nexmark.step($batch, $cycle)" -c "COMMIT")
		te=$(date +%s%N)
		script="\\o /dev/null
\\timing on"
		for q in $QUERIES; do
			script+=$'\n'"$(bench_timed_sql "st_$q" "SELECT pgtrickle.refresh_stream_table('st_$q');")"
			script+=$'\n'"$(bench_timed_sql "mv_$q" "REFRESH MATERIALIZED VIEW mv_$q;")"
		done
		out=$(bench_parse_timed < <(bench_psql <<<"$script" 2>&1))
		measured=$((i > WARMUP))
		line="batch $batch cycle $i"
		[[ $measured == 1 ]] || line+=" (warm-up)"
		line+=": $changed rows changed in $(((te - ts) / 1000000)) ms;"
		for q in $QUERIES; do
			read -r sw sc mw mc < <(awk -v s="st_$q" -v m="mv_$q" '
				$1 == s { sw = $2; sc = $3 } $1 == m { mw = $2; mc = $3 }
				END { print sw, sc, mw, mc }' <<<"$out")
			action=$(last_action "st_$q")
			if [[ $measured == 1 ]]; then echo "$batch $q $sw $sc $mw $mc $action" >>"$RAW"; fi
			line+=" $q $(printf '%.0f' "$sw")/$(printf '%.0f' "$mw")"
		done
		bench_log "$line (stream table/matview ms)"
		if [[ $CHECK == 1 || $i == $((WARMUP + REPEATS)) ]]; then
			for q in $QUERIES; do
				d=$(check_identity "$q")
				if [[ $d != 0 ]]; then
					echo "MISMATCH: $q (${MODE[$q]}) differs from its query in $d rows after cycle $cycle"
					MISMATCH=1
				fi
			done
		fi
	done
done

echo
for batch in $BATCHES; do
	echo "Change per cycle: $batch new events + updates/deletes; medians of $REPEATS cycles after" \
		"$WARMUP warm-up; wall time (psql \\timing, commit included) and backend CPU time:"
	printf '| %-5s | %-12s | %-12s | %12s | %12s | %9s | %9s |\n' query mode action "refresh ms" \
		"matview ms" "mv/st" "mv/st CPU"
	echo "|---|---|---|---:|---:|---:|---:|"
	ratios=()
	for q in $QUERIES; do
		mapfile -t SW < <(awk -v r="$batch" -v q="$q" '$1 == r && $2 == q { print $3 }' "$RAW")
		mapfile -t SC < <(awk -v r="$batch" -v q="$q" '$1 == r && $2 == q { print $4 }' "$RAW")
		mapfile -t MW < <(awk -v r="$batch" -v q="$q" '$1 == r && $2 == q { print $5 }' "$RAW")
		mapfile -t MC < <(awk -v r="$batch" -v q="$q" '$1 == r && $2 == q { print $6 }' "$RAW")
		actions=$(awk -v r="$batch" -v q="$q" '$1 == r && $2 == q { print $7 }' "$RAW" | sort -u |
			paste -sd/)
		sw=$(bench_median "${SW[@]}")
		sc=$(bench_median "${SC[@]}")
		mw=$(bench_median "${MW[@]}")
		mc=$(bench_median "${MC[@]}")
		ratio=$(ratio3 "$mw" "$sw")
		if [[ ${MODE[$q]} == DIFFERENTIAL ]]; then ratios+=("$ratio"); fi
		printf '| %-5s | %-12s | %-12s | %12.1f | %12.1f | %9s | %9s |\n' "$q" "${MODE[$q]}" \
			"$actions" "$sw" "$mw" "$ratio" "$(ratio3 "$mc" "$sc")"
	done
	if [[ ${#ratios[@]} -gt 0 ]]; then
		echo "DIFFERENTIAL queries (${#ratios[@]}): median matview/refresh $(bench_median "${ratios[@]}")x," \
			"lowest $(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)x"
	fi
	echo
done
echo "Refused in DIFFERENTIAL (created AUTO, which refreshes them FULL):"
for q in $QUERIES; do
	if [[ ${MODE[$q]} == AUTO ]]; then printf '  %s: %s\n' "$q" "${REASON[$q]}"; fi
done
if [[ $MISMATCH -ne 0 ]]; then
	echo "CORRECTNESS: MISMATCH found"
	exit 2
fi
echo "CORRECTNESS: every stream table matched its query by identity after" \
	"$([[ $CHECK == 1 ]] && echo every cycle || echo the last cycle of each batch size)"
