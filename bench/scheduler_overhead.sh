#!/usr/bin/env bash
# Scheduler overhead and propagation latency, with baselines in the same run.
#
# (a) Idle tick cost. The CPU time of the database's scheduler process (the backend whose
#     pg_stat_activity.backend_type is 'pg_trickle scheduler'; /proc/<pid>/schedstat, ns) is read
#     over BENCH_IDLE_WINDOWS windows of BENCH_IDLE_SECONDS with nothing to refresh, at
#     pg_trickle.scheduler_interval_ms = BENCH_INTERVAL_MS: first with no stream tables (baseline),
#     then with BENCH_STREAM_TABLES small AUTO stream tables, schedule 'calculated', over
#     BENCH_SOURCES small source tables (plus the 3 of the diamond of part b). One tick is also timed
#     directly: with the interval set to 1 h the scheduler sleeps; each SIGHUP (pg_reload_conf())
#     wakes it for exactly one tick (plus a configuration reload, which the baseline has too), whose
#     CPU time is the growth of the process's schedstat counter.
#     Ticks per second are derived as (CPU per second) / (CPU of one tick).
# (b) Propagation latency through a diamond: lat_a (table) -> lat_b, lat_c (stream tables) -> lat_d
#     (joins them), all 'calculated', AUTO (one atomic consistency group). A DO block inserts a row
#     with a unique marker into lat_a, commits, then polls lat_d (1 ms sleeps) until the marker is
#     visible; BENCH_LATENCY_SAMPLES samples, a random 50-150 ms pause before each so that inserts
#     fall at random points of the tick cycle. Baseline in the same run: with the scheduler off,
#     the same insert followed by a manual refresh_stream_table('lat_d') (which refreshes the whole
#     group: what the scheduler has to do). Measured with only the diamond, and again with the
#     idle stream tables of (a) present.
#
# Environment: BENCH_STREAM_TABLES (1000), BENCH_SOURCES (10), BENCH_INTERVAL_MS (100),
# BENCH_IDLE_SECONDS (10), BENCH_IDLE_WINDOWS (3), BENCH_TICK_SAMPLES (10),
# BENCH_LATENCY_SAMPLES (40), BENCH_PERF=1 (also print a perf profile of the idle scheduler, if
# perf is installed), plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N_ST=${BENCH_STREAM_TABLES:-1000}
N_SRC=${BENCH_SOURCES:-10}
INTERVAL=${BENCH_INTERVAL_MS:-100}
WINDOW=${BENCH_IDLE_SECONDS:-10}
WINDOWS=${BENCH_IDLE_WINDOWS:-3}
TICKS=${BENCH_TICK_SAMPLES:-10}
SAMPLES=${BENCH_LATENCY_SAMPLES:-40}

bench_start_cluster "pg_trickle.scheduler_interval_ms = $INTERVAL"
echo "scheduler_overhead: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	"$(bench_psql_val "SHOW server_version"), pg_trickle $BENCH_SO_INFO," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "scheduler_interval_ms = $INTERVAL, $N_ST idle stream tables over $N_SRC sources," \
	"idle windows: $WINDOWS x ${WINDOW}s, direct tick samples: $TICKS, latency samples: $SAMPLES"

RAW=$(mktemp)
trap 'rm -f "$RAW"; bench_cleanup' EXIT

worker_pid() { # backend_type -> pid (waits for it)
	local pid='' i
	for i in $(seq 1 100); do
		pid=$(bench_psql_val "SELECT pid FROM pg_stat_activity WHERE backend_type = '$1'
		                      AND (datname = '$BENCH_DB' OR '$1' = 'pg_trickle launcher') LIMIT 1")
		[[ -n $pid ]] && break
		sleep 0.2
	done
	[[ -n $pid ]] || bench_die "no '$1' process"
	echo "$pid"
}
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
now_ns() { date +%s%N; }
history_rows() { bench_psql_val "SELECT count(*) FROM pgtrickle.pgt_refresh_history"; }

# Wait until the scheduler's CPU counter stops moving for 300 ms (its tick is over).
wait_quiet() {
	local pid=$1 a b
	b=$(cpu_ns "$pid")
	while :; do
		sleep 0.3
		a=$b
		b=$(cpu_ns "$pid")
		[[ $a == "$b" ]] && break
	done
}

# idle LABEL: CPU of the scheduler over idle windows, then single ticks timed directly.
idle() {
	local label=$1 pid lpid n w c0 c1 l0 l1 t0 t1 h0 h1 wall cpu lcpu i
	pid=$(worker_pid 'pg_trickle scheduler')
	lpid=$(worker_pid 'pg_trickle launcher')
	n=$(bench_psql_val "SELECT count(*) FROM pgtrickle.pgt_stream_tables")
	sleep 2
	for w in $(seq 1 "$WINDOWS"); do
		h0=$(history_rows)
		c0=$(cpu_ns "$pid")
		l0=$(cpu_ns "$lpid")
		t0=$(now_ns)
		sleep "$WINDOW"
		c1=$(cpu_ns "$pid")
		l1=$(cpu_ns "$lpid")
		t1=$(now_ns)
		h1=$(history_rows)
		wall=$(((t1 - t0) / 1000))
		cpu=$(((c1 - c0) / 1000))
		lcpu=$(((l1 - l0) / 1000))
		echo "$label window $n $wall $cpu $lcpu $((h1 - h0))" >>"$RAW"
		printf '  %-10s window %d: %4d stream tables, wall %7.0f ms, scheduler CPU %8.1f ms' \
			"$label" "$w" "$n" "$((wall / 1000))" "$(awk -v c="$cpu" 'BEGIN { print c / 1000 }')"
		printf ' (launcher %.1f ms), refreshes during the window: %d\n' \
			"$(awk -v c="$lcpu" 'BEGIN { print c / 1000 }')" "$((h1 - h0))"
	done
	# One tick at a time: a long interval, then SIGHUPs.
	bench_set pg_trickle.scheduler_interval_ms 3600000
	wait_quiet "$pid"
	for i in $(seq 1 "$TICKS"); do
		c0=$(cpu_ns "$pid")
		bench_psql -c "SELECT pg_reload_conf()" >/dev/null
		wait_quiet "$pid"
		c1=$(cpu_ns "$pid")
		echo "$label tick $n $(((c1 - c0) / 1000))" >>"$RAW"
	done
	bench_set pg_trickle.scheduler_interval_ms "$INTERVAL"
}

# latency LABEL: the scheduler propagating a marker from lat_a to lat_d, then the manual baseline.
latency_do() { # mode (sched|manual) samples
	local refresh=""
	[[ $1 == manual ]] && refresh="c0 := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
    PERFORM pgtrickle.refresh_stream_table('lat_d');
    COMMIT;
    cpu := cpu || ' ' || round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - c0) / 1e6, 2);"
	bench_psql -At 2>&1 <<SQL | awk '/(LAT|CPU) / { sub(/^.*NOTICE: */, ""); print; next }
	                              { print > "/dev/stderr" }'
SET client_min_messages = notice;
DO \$\$
DECLARE
  t0 timestamptz;
  lat text := '';
  cpu text := '';
  c0 bigint;
  m text;
BEGIN
  FOR i IN 1..$2 LOOP
    PERFORM pg_sleep(0.05 + random() * 0.1);
    m := 'marker-' || i || '-' || md5(clock_timestamp()::text);
    INSERT INTO lat_a (marker, v) VALUES (m, i);
    COMMIT;
    t0 := clock_timestamp();
    $refresh
    LOOP
      PERFORM 1 FROM lat_d WHERE marker = m;
      EXIT WHEN FOUND;
      IF clock_timestamp() - t0 > interval '60 s' THEN
        RAISE EXCEPTION 'marker % not in lat_d after 60 s', m;
      END IF;
      PERFORM pg_sleep(0.001);
    END LOOP;
    lat := lat || ' ' || round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 2);
    COMMIT;
  END LOOP;
  RAISE NOTICE 'LAT %', lat;
  RAISE NOTICE 'CPU %', cpu;
END
\$\$;
SQL
}

latency() {
	local label=$1 s m h0 h1
	h0=$(bench_psql_val "SELECT count(*) FROM pgtrickle.pgt_refresh_history h
	                     JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'lat_d'")
	s=$(latency_do sched "$SAMPLES" | sed -n 's/^LAT //p')
	echo "$label sched $s" >>"$RAW"
	actions=$(bench_psql_val "SELECT string_agg(action || ' ' || n, ', ') FROM (
	            SELECT action, count(*) n FROM (
	              SELECT h.action FROM pgtrickle.pgt_refresh_history h
	              JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = 'lat_d'
	              ORDER BY h.refresh_id OFFSET $h0) x GROUP BY action) y")
	echo "  $label: lat_d refreshes by the scheduler during the samples: $actions"
	bench_set pg_trickle.enabled off
	sleep 1
	m=$(latency_do manual "$SAMPLES")
	echo "$label manual $(sed -n 's/^LAT //p' <<<"$m")" >>"$RAW"
	echo "$label manualcpu $(sed -n 's/^CPU //p' <<<"$m")" >>"$RAW"
	bench_set pg_trickle.enabled on
}

# ---- (a0) idle, no stream tables -------------------------------------------------------------
bench_log "(a) idle scheduler, no stream tables"
idle "0-st"

# ---- (b0) the diamond alone ------------------------------------------------------------------
bench_log "(b) diamond lat_a -> lat_b, lat_c -> lat_d"
bench_psql >/dev/null <<'SQL'
CREATE TABLE lat_a (id bigserial PRIMARY KEY, marker text NOT NULL, v int NOT NULL);
INSERT INTO lat_a (marker, v) SELECT 'init-' || i, i FROM generate_series(1, 10000) i;
ANALYZE lat_a;
SELECT pgtrickle.create_stream_table('lat_b', 'SELECT id, marker, v FROM lat_a WHERE v >= 0');
SELECT pgtrickle.create_stream_table('lat_c', 'SELECT id, v * 2 AS w FROM lat_a WHERE v >= 0');
SELECT pgtrickle.create_stream_table('lat_d',
  'SELECT b.id, b.marker, c.w FROM lat_b b JOIN lat_c c ON c.id = b.id');
CREATE INDEX ON lat_d (marker);
ANALYZE lat_b; ANALYZE lat_c; ANALYZE lat_d;
SQL
bench_psql -At -c "SELECT '  group ' || group_id || ': ' || string_agg(member_name ||
                   CASE WHEN is_convergence THEN ' (convergence)' ELSE '' END, ', ')
                   FROM pgtrickle.diamond_groups() GROUP BY group_id" \
	-c "SELECT '  ' || s.pgt_name || ': ' || e.value FROM pgtrickle.pgt_stream_tables s,
	    LATERAL pgtrickle.explain_st(s.pgt_name) e
	    WHERE s.pgt_name LIKE 'lat_%' AND e.property = 'differential_support' ORDER BY 1"
latency "diamond"

# ---- (a1) N idle stream tables ---------------------------------------------------------------
bench_log "(a) creating $N_ST stream tables over $N_SRC sources"
{
	for s in $(seq 1 "$N_SRC"); do
		echo "CREATE TABLE src_$s (id int PRIMARY KEY, v int NOT NULL);"
		echo "INSERT INTO src_$s SELECT i, i % 97 FROM generate_series(1, 100) i;"
	done
	for i in $(seq 1 "$N_ST"); do
		echo "SELECT pgtrickle.create_stream_table('idle_$i', 'SELECT id, v FROM src_$((i % N_SRC + 1)) WHERE v % 10 = $((i % 10))');"
	done
} >"$BENCH_DIR/create.sql"
chmod a+r "$BENCH_DIR/create.sql"
t0=$(now_ns)
bench_psql -f "$BENCH_DIR/create.sql" >/dev/null
t1=$(now_ns)
echo "  created $N_ST stream tables in $(((t1 - t0) / 1000000)) ms;" \
	"populated: $(bench_psql_val "SELECT count(*) FILTER (WHERE is_populated) || '/' || count(*)
	                               FROM pgtrickle.pgt_stream_tables")"
sleep 3
idle "$N_ST-st"
if [[ ${BENCH_PERF:-0} == 1 ]] && command -v perf >/dev/null; then
	pid=$(worker_pid 'pg_trickle scheduler')
	perf record -q -F 999 -g -p "$pid" -o "$BENCH_DIR/perf.data" -- sleep "$WINDOW" \
		>"$BENCH_DIR/perf.log" 2>&1 || { echo "  perf record failed:"; sed 's/^/    /' "$BENCH_DIR/perf.log"; }
	echo "  perf profile of the idle scheduler ($N_ST stream tables), top self-time symbols:"
	perf report -i "$BENCH_DIR/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null |
		awk '/^ +[0-9]/ && $3 !~ /^0x/ { p = $1; sub(/^.*\[\.\] /, ""); sub(/ +- +- *$/, "")
			printf "    %8s  %s\n", p, substr($0, 1, 100); if (++n == 15) exit }' || true
	echo "  ... and by inclusive time (callers included):"
	perf report -i "$BENCH_DIR/perf.data" --children --sort symbol -g none --stdio 2>/dev/null |
		awk '/^ +[0-9]/ && $4 !~ /^0x/ { p = $1; sub(/^.*\[\.\] /, ""); sub(/ +- +- *$/, "")
			printf "    %8s  %s\n", p, substr($0, 1, 100); if (++n == 30) exit }' || true
fi

# ---- (b1) the diamond with the idle stream tables present ------------------------------------
bench_log "(b) diamond latency with $N_ST idle stream tables present"
latency "diamond+$N_ST-st"

# ---- report ----------------------------------------------------------------------------------
echo
echo "(a) Idle scheduler (scheduler_interval_ms = $INTERVAL; medians):"
printf '%-10s %6s %9s %12s %12s %14s %10s\n' run "STs" "busy%" "tick_cpu_ms" "ticks/s" \
	"us/ST/tick" "launcher%"
base_tick=
for label in 0-st "$N_ST-st"; do
	mapfile -t TK < <(awk -v l="$label" '$1 == l && $2 == "tick" { print $4 / 1000 }' "$RAW")
	mapfile -t WALL < <(awk -v l="$label" '$1 == l && $2 == "window" { print $4 }' "$RAW")
	mapfile -t CPU < <(awk -v l="$label" '$1 == l && $2 == "window" { print $5 }' "$RAW")
	mapfile -t LCPU < <(awk -v l="$label" '$1 == l && $2 == "window" { print $6 }' "$RAW")
	n=$(awk -v l="$label" '$1 == l && $2 == "window" { n = $3 } END { print n }' "$RAW")
	tick=$(bench_median "${TK[@]}")
	wall=$(bench_median "${WALL[@]}")
	cpu=$(bench_median "${CPU[@]}")
	lcpu=$(bench_median "${LCPU[@]}")
	busy=$(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.2f", 100 * c / w }')
	lbusy=$(awk -v c="$lcpu" -v w="$wall" 'BEGIN { printf "%.3f", 100 * c / w }')
	tps=$(awk -v c="$cpu" -v w="$wall" -v t="$tick" 'BEGIN { printf "%.2f", (c / w) * 1000 / t }')
	if [[ -z $base_tick ]]; then
		base_tick=$tick
		per_st="-"
	else
		per_st=$(awk -v t="$tick" -v b="$base_tick" -v n="$n" 'BEGIN { printf "%.1f", (t - b) * 1000 / n }')
	fi
	printf '%-10s %6s %9s %12s %12s %14s %10s\n' "$label" "$n" "$busy" "$tick" "$tps" "$per_st" "$lbusy"
done
echo "  busy% = scheduler CPU / wall time over the idle windows; tick_cpu_ms = CPU time of one tick"
echo "  timed directly (median of $TICKS; includes a configuration reload); ticks/s = busy / tick_cpu"
echo "  (at most 1000 / ($INTERVAL + tick wall time)); us/ST/tick = (tick_cpu - tick_cpu with no"
echo "  stream tables) / stream tables."
echo
echo "(b) Propagation latency lat_a commit -> marker visible in lat_d (ms):"
printf '%-22s %-28s %8s %8s %8s %8s %8s\n' run method samples min median p90 max
for label in diamond "diamond+$N_ST-st"; do
	for mode in sched manual; do
		read -r -a V < <(awk -v l="$label" -v m="$mode" '$1 == l && $2 == m { $1 = ""; $2 = ""; print }' "$RAW")
		med=$(bench_median "${V[@]}")
		[[ $mode == sched ]] && smed=$med || mmed=$med
		desc=$([[ $mode == sched ]] && echo "scheduler (${INTERVAL} ms tick)" || echo "manual refresh (baseline)")
		printf '%-22s %-28s %8d %8s %8s %8s %8s\n' "$label" "$desc" "${#V[@]}" \
			"$(bench_percentile 0 "${V[@]}")" "$med" "$(bench_percentile 90 "${V[@]}")" \
			"$(bench_percentile 100 "${V[@]}")"
	done
	read -r -a C < <(awk -v l="$label" '$1 == l && $2 == "manualcpu" { $1 = ""; $2 = ""; print }' "$RAW")
	echo "  $label: manual refresh_stream_table('lat_d'): backend CPU median $(bench_median "${C[@]}") ms"
	echo "  $label: scheduler median / manual median = $(bench_ratio "$smed" "$mmed");" \
		"expected with a random commit phase: interval/2 + manual = $(awk -v i="$INTERVAL" -v m="$mmed" 'BEGIN { printf "%.1f", i / 2 + m }') ms"
done
