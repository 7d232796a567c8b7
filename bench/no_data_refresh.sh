#!/usr/bin/env bash
# Manual refresh when nothing changed (NO_DATA), server time, in the same run as the floor.
#
# Creates `src` (BENCH_ROWS rows) and a DIFFERENTIAL and a FULL stream table over
# `SELECT id, a FROM src WHERE a % 2 = 0`, refreshes them once, then runs
# `SELECT pgtrickle.refresh_stream_table(...)` BENCH_CALLS times each with pgbench (one statement
# = one transaction, nothing changed in between: every refresh is NO_DATA) and prints pgbench's
# mean latency per statement next to the floor, `SELECT 1` in the same pgbench run (round trip and
# transaction), and the CPU time of the backend per call (/proc/self/schedstat, which other
# processes on the machine do not inflate). The goal (issue 10) is < 1 ms server time.
# The scheduler is off (pg_trickle.enabled = off).
#
# Environment: BENCH_ROWS (100000), BENCH_CALLS (2000), plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROWS=${BENCH_ROWS:-100000}
CALLS=${BENCH_CALLS:-2000}

bench_start_cluster "pg_trickle.enabled=off"
bench_psql <<SQL >/dev/null
CREATE TABLE src (id int PRIMARY KEY, a int NOT NULL);
INSERT INTO src SELECT g, g % 1000 FROM generate_series(1, $ROWS) g;
ANALYZE src;
SELECT pgtrickle.create_stream_table('st_diff', 'SELECT id, a FROM src WHERE a % 2 = 0',
                                     refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('st_full', 'SELECT id, a FROM src WHERE a % 2 = 0',
                                     refresh_mode => 'FULL');
SELECT pgtrickle.refresh_stream_table('st_diff');
SELECT pgtrickle.refresh_stream_table('st_full');
SQL

SCRIPTS=$(mktemp -d)
chmod 755 "$SCRIPTS"
trap 'rm -rf "$SCRIPTS"; bench_cleanup' EXIT
echo "SELECT 1;" >"$SCRIPTS/floor.sql"
echo "SELECT pgtrickle.refresh_stream_table('st_diff');" >"$SCRIPTS/diff.sql"
echo "SELECT pgtrickle.refresh_stream_table('st_full');" >"$SCRIPTS/full.sql"
chmod 644 "$SCRIPTS"/*.sql

# mean latency (ms) of one pgbench run of a script
latency() {
	bench_pgbench -n -t "$CALLS" -f "$SCRIPTS/$1.sql" 2>&1 |
		awk '/latency average/ { print $4 }'
}
# CPU ms per call of CALLS calls in one backend (one transaction each: psql autocommit)
cpu_per_call() {
	{
		echo "SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS c0 \\gset"
		for ((i = 0; i < CALLS; i++)); do cat "$SCRIPTS/$1.sql"; done
		echo "SELECT round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :c0) / 1e6 / $CALLS, 4);"
	} | bench_psql -At | tail -n 1
}

printf '%-22s %14s %14s\n' "statement" "latency_ms" "cpu_ms/call"
for s in floor diff full; do
	lat=$(latency "$s")
	cpu=$(cpu_per_call "$s")
	printf '%-22s %14s %14s\n' "$s" "$lat" "$cpu"
done
echo "history check (all NO_DATA after the first refresh):"
bench_psql_val "SELECT action || ' ' || count(*) FROM pgtrickle.pgt_refresh_history
                GROUP BY action ORDER BY action"
