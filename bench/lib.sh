# shellcheck shell=bash
# Shared helpers of the benchmark scripts in bench/ (sourced, not run).
#
# bench_start_cluster [setting=value ...]
#     initdb + start a throwaway PostgreSQL 15 cluster in a fresh mktemp directory under /tmp
#     (owned by postgres when run as root), listening only on a Unix socket in that directory,
#     with shared_preload_libraries = 'pg_trickle' and the given extra postgresql.conf settings.
#     Creates database "bench" with the extension installed. The cluster is stopped and the
#     directory removed on EXIT (BENCH_KEEP=1 keeps the directory).
# bench_psql [psql args...]      psql -X -q -v ON_ERROR_STOP=1 on the bench database
# bench_psql_val SQL             one value, unaligned, tuples only
# bench_set SETTING VALUE        ALTER SYSTEM SET + pg_reload_conf() (for SIGHUP GUCs)
# bench_median v1 v2 ...         median of numbers
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), BENCH_PORT (default: a free port
# from 55600 up), BENCH_KEEP=1, BENCH_SHARED_BUFFERS (default 1GB), BENCH_INSTALLED=1.
#
# Which pg_trickle: by default the build in the repository (pg_trickle.so, pg_trickle.control and
# sql/pg_trickle--*.sql of the tree this file is in; run `make -j2` first) is copied, with the
# PostgreSQL server, into a private relocatable installation inside the cluster directory, so that
# a concurrent `make install` of another tree cannot change the extension under a running
# benchmark. BENCH_BUILD_DIR=DIR takes the build from another tree instead (e.g. a `git archive` of
# a commit built with `make`: the figures then belong to that commit). BENCH_INSTALLED=1 uses the
# system-wide installation (`make install`).
# Durability is relaxed (fsync = off, synchronous_commit = off) so that timings measure CPU
# work of the extension, not the disk: tracked and untracked runs get the same settings.
# Everything else (autovacuum included) keeps the PostgreSQL defaults unless a script passes it.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
BENCH_DIR=
BENCH_PORT=${BENCH_PORT:-}
BENCH_DB=bench

bench_log() { printf '==> %s\n' "$*" >&2; }
bench_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Run as the postgres OS user when root (PostgreSQL refuses root), directly otherwise.
bench_as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

bench_cleanup() {
	local rc=$?
	# Nothing may stop the cleanup: not a failing command, not output to a closed pipe.
	set +e
	trap '' PIPE
	if [[ -n $BENCH_DIR && -f $BENCH_DIR/data/postmaster.pid ]]; then
		if [[ $rc -ne 0 && -f $BENCH_DIR/server.log ]]; then
			echo "---- server log (last 30 lines) ----" >&2
			tail -n 30 "$BENCH_DIR/server.log" >&2
		fi
		(cd "$BENCH_DIR" && bench_as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_DIR/data" -m fast -w stop \
			>/dev/null 2>&1) || true
	fi
	if [[ -n $BENCH_DIR ]]; then
		if [[ ${BENCH_KEEP:-0} == 1 ]]; then
			echo "kept $BENCH_DIR" >&2
		else
			rm -rf "$BENCH_DIR"
		fi
	fi
	return $rc
}

bench_free_port() {
	local p=55600
	local f used
	# Each cluster has its own socket directory, so a port only has to be unused by the other
	# benchmark clusters (and by TCP listeners, to be safe).
	while ((p < 55700)); do
		used=0
		for f in /tmp/.s.PGSQL.$p /tmp/pgt_bench.*/.s.PGSQL.$p; do
			[[ -e $f ]] && used=1
		done
		if ((used == 0)) && ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo $p
			return
		fi
		p=$((p + 1))
	done
	bench_die "no free port in 55600..55699"
}

# Copy the PostgreSQL server (bin, lib, share) into $BENCH_DIR/inst, keeping the relative layout so
# that the copied binaries find the copied lib and share directories, and put the repository's
# build of pg_trickle into it. Sets PG_BINDIR to the copy.
bench_private_install() {
	local cfg=$PG_BINDIR/pg_config inst=$BENCH_DIR/inst src=${BENCH_BUILD_DIR:-$BENCH_ROOT}
	local bindir libdir sharedir
	bindir=$($cfg --bindir)
	libdir=$($cfg --pkglibdir)
	sharedir=$($cfg --sharedir)
	[[ -f $src/pg_trickle.so ]] ||
		bench_die "no build in $src: run 'make -j2' there (or set BENCH_INSTALLED=1)"
	mkdir -p "$inst$bindir" "$inst$libdir" "$inst$sharedir"
	cp -a "$bindir/." "$inst$bindir/"
	cp -a "$libdir/." "$inst$libdir/"
	cp -a "$sharedir/." "$inst$sharedir/"
	rm -f "$inst$sharedir"/extension/pg_trickle*
	cp "$src/pg_trickle.so" "$inst$libdir/pg_trickle.so"
	cp "$src/pg_trickle.control" "$src"/sql/pg_trickle--*.sql "$inst$sharedir/extension/"
	chmod -R a+rX "$inst"
	PG_BINDIR=$inst$bindir
	[[ $($PG_BINDIR/pg_config --pkglibdir) == "$inst$libdir" ]] ||
		bench_die "the copied PostgreSQL does not relocate to $inst"
	local rev=
	rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || true)
	BENCH_SO_INFO="build in $src${rev:+ (HEAD $rev)}, .so md5 $(md5sum <"$src/pg_trickle.so" | cut -c1-12)"
}

bench_start_cluster() {
	[[ -x $PG_BINDIR/postgres ]] || bench_die "no PostgreSQL binaries in $PG_BINDIR"
	BENCH_DIR=$(mktemp -d /tmp/pgt_bench.XXXXXX)
	trap bench_cleanup EXIT
	# Signals end the script through `exit`, so that the EXIT trap stops the cluster.
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 141' PIPE
	trap 'exit 143' TERM
	[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$BENCH_DIR"
	if [[ ${BENCH_INSTALLED:-0} == 1 ]]; then
		[[ -f $($PG_BINDIR/pg_config --pkglibdir)/pg_trickle.so ]] ||
			bench_die "pg_trickle is not installed: run 'make -j2 && make install' first"
		BENCH_SO_INFO="installed $(md5sum <"$($PG_BINDIR/pg_config --pkglibdir)/pg_trickle.so" | cut -c1-12)"
	else
		bench_private_install
	fi
	[[ -n $BENCH_PORT ]] || BENCH_PORT=$(bench_free_port)
	local user
	user=$([[ $(id -u) -eq 0 ]] && echo postgres || id -un)
	(cd "$BENCH_DIR" && bench_as_pg "$PG_BINDIR/initdb" -D "$BENCH_DIR/data" -U "$user" \
		--auth=trust --no-sync --encoding=UTF8 --locale=C >/dev/null)
	{
		echo "port = $BENCH_PORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$BENCH_DIR'"
		echo "shared_preload_libraries = 'pg_trickle'"
		echo "shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}"
		echo "work_mem = 64MB"
		echo "maintenance_work_mem = 256MB"
		echo "max_wal_size = 8GB"
		echo "checkpoint_timeout = 30min"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "jit = off"
		echo "max_worker_processes = 16"
		local s
		for s in "$@"; do echo "$s"; done
	} >>"$BENCH_DIR/data/postgresql.conf"
	(cd "$BENCH_DIR" && bench_as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_DIR/data" \
		-l "$BENCH_DIR/server.log" -w start >/dev/null)
	bench_as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_DIR" -p "$BENCH_PORT" \
		-d postgres -c "CREATE DATABASE $BENCH_DB" >/dev/null
	bench_psql -c "CREATE EXTENSION pg_trickle" >/dev/null
	bench_log "cluster in $BENCH_DIR (port $BENCH_PORT), pg_trickle: $BENCH_SO_INFO," \
		"$(bench_psql_val "SELECT pgtrickle.version()"), settings: ${*:-defaults}"
}

bench_psql() {
	bench_as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_DIR" -p "$BENCH_PORT" \
		-d "$BENCH_DB" "$@"
}

bench_psql_val() {
	bench_psql -At -c "$1"
}

bench_pgbench() {
	bench_as_pg "$PG_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" "$@" "$BENCH_DB"
}

bench_set() {
	bench_psql -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}

bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}

# bench_ratio A B -> A/B with 2 decimals ("-" when B is 0)
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "-"; else printf "%.2f\n", a/b }'
}

# bench_percentile P v1 v2 ...   nearest-rank percentile (P in 0..100) of numbers
bench_percentile() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v p="$p" '{a[NR]=$1} END {
		if (NR == 0) { print "nan"; exit }
		r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print a[r] }'
}

# bench_timed_sql TAG SQL   psql script text that runs SQL (one statement, its own transaction)
#     and reports its wall time (psql \timing, round trip and commit included) and the CPU time of
#     the server backend that ran it (/proc/self/schedstat of the backend, read with
#     pg_read_file(): immune to other processes competing for the CPUs). Feed the output of a psql
#     session running such scripts (with \timing on) to bench_parse_timed.
bench_timed_sql() {
	cat <<SQL
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS pgt_c0 \\gset
\\echo @@ $1
$2
SELECT round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :pgt_c0) / 1e6, 3) AS pgt_cpu \\gset
\\echo @CPU $1 :pgt_cpu
SQL
}

# bench_parse_timed < psql output  ->  lines "TAG wall_ms cpu_ms"
bench_parse_timed() {
	awk '/^@@ / { tag = $2; first = 1; next }
		/^Time:/ { if (first) { wall[tag] = $2; first = 0 } next }
		/^@CPU / { cpu[$2] = $3; order[++n] = $2 }
		END { for (i = 1; i <= n; i++) print order[i], wall[order[i]], cpu[order[i]] }'
}
