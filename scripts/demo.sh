#!/usr/bin/env bash
# A guided tour of pg_trickle: builds and installs the extension, starts a throwaway cluster,
# builds a diamond of stream tables over an `orders` table, shows the monitoring functions, then
# changes the source and refreshes. The cluster and its directory are removed on exit.
#
# Usage: scripts/demo.sh [--no-build]
#   --no-build   use the pg_trickle already installed (skip install-deps, build and install)
# Environment: PGT_DEMO_PORT (default 55499; the server listens only on a Unix socket in its own
# temporary directory), PG_CONFIG (default: PostgreSQL 15's), PGT_DEMO_KEEP=1 keeps the directory.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=1
for arg in "$@"; do
	case $arg in
	--no-build) BUILD=0 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) pgt_die "unknown argument: $arg (see --help)" ;;
	esac
done

PORT=${PGT_DEMO_PORT:-55499}

DEMO=$(mktemp -d /tmp/pgt_demo.XXXXXX)
BINDIR=
cleanup() {
	local rc=$?
	if [[ -n $BINDIR && -f $DEMO/data/postmaster.pid ]]; then
		if [[ $rc -ne 0 && -f $DEMO/server.log ]]; then
			echo "---- server log (last 40 lines) ----"
			tail -n 40 "$DEMO/server.log"
		fi
		(cd "$DEMO" && pgt_as_pg "$BINDIR/pg_ctl" -D "$DEMO/data" -m fast -w stop >/dev/null) || true
	fi
	if [[ ${PGT_DEMO_KEEP:-0} == 1 ]]; then
		echo "kept $DEMO"
	else
		rm -rf "$DEMO"
	fi
}
trap cleanup EXIT

if [[ $BUILD -eq 1 ]]; then
	pgt_log "installing dependencies"
	"$PGT_ROOT/scripts/install-deps.sh"
fi
if [[ -z ${PG_CONFIG:-} ]]; then
	if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
		PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	else
		PG_CONFIG=pg_config
	fi
fi
if [[ $BUILD -eq 1 ]]; then
	pgt_log "building and installing pg_trickle (in a copy of the tree: $DEMO/src)"
	pgt_copy_tree "$DEMO/src"
	(cd "$DEMO/src" && make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null &&
		pgt_as_root make -s PG_CONFIG="$PG_CONFIG" install >/dev/null)
	rm -rf "$DEMO/src"
fi
BINDIR=$("$PG_CONFIG" --bindir)
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DEMO"
if [[ $(id -u) -eq 0 ]]; then PGUSER_NAME=postgres; else PGUSER_NAME=$(id -un); fi

pgt_log "starting a throwaway cluster in $DEMO (port $PORT, Unix socket only)"
(cd "$DEMO" && pgt_as_pg "$BINDIR/initdb" -D "$DEMO/data" -U "$PGUSER_NAME" --auth=trust \
	--no-sync --encoding=UTF8 --locale=C >/dev/null)
cat >>"$DEMO/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
shared_preload_libraries = 'pg_trickle'
pg_trickle.scheduler_interval_ms = 200
fsync = off
EOF
(cd "$DEMO" && pgt_as_pg "$BINDIR/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w start >/dev/null)

psql_demo() {
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO" -p "$PORT" -U "$PGUSER_NAME" -d postgres \
		-P null='(null)' "$@"
}

pgt_log "a source table and a diamond of FULL stream tables"
psql_demo <<'SQL'
\set ECHO queries
CREATE EXTENSION pg_trickle;
CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO orders (customer, amount) VALUES
    ('alice', 30.00), ('bob', 12.50), ('alice', 7.25), ('carol', 99.99), ('bob', 40.00);

-- Two stream tables read orders; a third joins them: orders -> {totals, counts} -> summary.
\o /dev/null
SELECT pgtrickle.create_stream_table('customer_totals',
    'SELECT customer, sum(amount) AS total FROM orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('customer_counts',
    'SELECT customer, count(*) AS orders FROM orders GROUP BY customer',
    schedule => '1m', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('customer_summary',
    'SELECT t.customer, t.total, c.orders, round(t.total / c.orders, 2) AS avg_order
       FROM customer_totals t JOIN customer_counts c USING (customer)',
    schedule => '1m', refresh_mode => 'FULL');
\o
SQL

show_state() {
	psql_demo <<'SQL'
\echo
\echo '-- pgtrickle.pgt_status()'
SELECT name, status, refresh_mode, is_populated, consecutive_errors, schedule,
       to_char(data_timestamp, 'HH24:MI:SS.MS') AS data_timestamp
FROM pgtrickle.pgt_status();
\echo '-- pgtrickle.diamond_groups(): the diamond forms one consistency group'
SELECT * FROM pgtrickle.diamond_groups();
\echo '-- pgtrickle.dependency_tree()'
SELECT * FROM pgtrickle.dependency_tree();
\echo '-- customer_totals'
SELECT * FROM customer_totals ORDER BY customer;
\echo '-- customer_counts'
SELECT * FROM customer_counts ORDER BY customer;
\echo '-- customer_summary (the convergence node)'
SELECT * FROM customer_summary ORDER BY customer;
SQL
}

pgt_log "state after creation"
show_state

pgt_log "new orders arrive; the stream tables still show the last refresh"
psql_demo <<'SQL'
\set ECHO queries
INSERT INTO orders (customer, amount) VALUES ('dave', 5.00), ('alice', 62.75), ('carol', 0.01);
SELECT * FROM customer_summary ORDER BY customer;
SQL

pgt_log "refreshing the convergence node refreshes its whole consistency group atomically"
psql_demo <<'SQL'
\set ECHO queries
\o /dev/null
SELECT pgtrickle.refresh_stream_table('customer_summary');
\o
SQL
show_state

pgt_log "the scheduler keeps them fresh: a 1s schedule, more orders, then wait (at most 20s)"
psql_demo <<'SQL'
\set ECHO queries
\o /dev/null
SELECT pgtrickle.alter_stream_table(name, schedule => '1s')
FROM unnest(ARRAY['customer_totals', 'customer_counts', 'customer_summary']) AS name;
\o
INSERT INTO orders (customer, amount) VALUES ('erin', 1.00), ('erin', 2.00);
SQL
caught_up=0
for _ in $(seq 1 100); do
	if [[ $(psql_demo -tA -c "SELECT count(*) FROM customer_summary WHERE customer = 'erin'") == 1 ]]; then
		caught_up=1
		break
	fi
	sleep 0.2
done
if [[ $caught_up -eq 1 ]]; then
	echo "customer_summary caught up with the new orders without a manual refresh:"
else
	echo "customer_summary did not catch up within 20s; the server log says:"
	tail -n 20 "$DEMO/server.log"
fi
psql_demo -c "SELECT * FROM customer_summary ORDER BY customer"

pgt_log "refresh history of customer_summary"
psql_demo <<'SQL'
SELECT action, status, initiated_by, rows_inserted, rows_deleted, group_id, group_epoch
FROM pgtrickle.get_refresh_history('customer_summary')
ORDER BY refresh_id;
SQL

pgt_log "demo finished; stopping the cluster and removing $DEMO"
