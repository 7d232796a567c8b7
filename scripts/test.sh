#!/usr/bin/env bash
# Runs every pg_trickle test: installs the dependencies, builds the module (warnings as errors)
# and installs it, builds the core and its unit tests under ASan/UBSan and runs them (ctest),
# runs the pg_regress and isolation suites, then the end-to-end tests against a private cluster.
#
# Everything is built in a fresh copy of the tree under /tmp owned by the `postgres` OS user,
# because PostgreSQL refuses to run as root and may not be able to read the checkout (e.g. under
# /root). The checkout itself is never written to.
#
# Usage: scripts/test.sh [--quick] [--keep] [--help]
#   --quick   skip the dependency check, the format check and the benchmarks build
#   --keep    keep the temporary tree (build dirs, regression output, logs) for inspection
# Environment:
#   PGT_ORACLE_LONG=1   passed through to the end-to-end tests (longer randomized oracle runs)
#   PGT_FUZZ_LONG=1     long query-shape fuzzer run (PGT_FUZZ_MINUTES, default 15; with
#                       PGT_E2E_FILTER='QueryFuzz.*' to run only it); PGT_FUZZ_SEED picks the seed
#   PGT_E2E_PORT        port of the end-to-end test cluster (default 54329; Unix socket only)
#   PGT_E2E_FILTER      a --gtest_filter for the end-to-end tests
#   PGT_E2E_TIMEOUT     seconds before the end-to-end tests are killed (default 1200)
#   PG_CONFIG           pg_config of the target server (default: PostgreSQL 15's)
#   JOBS                parallel build jobs (default: number of CPUs)

# The stage functions are called through run_stage.
# shellcheck disable=SC2317
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
KEEP=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--keep) KEEP=1 ;;
	-h | --help)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) pgt_die "unknown argument: $arg (see --help)" ;;
	esac
done

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# The pg_config of the target server, resolved once the dependencies are installed.
resolve_pg_config() {
	if [[ -z ${PG_CONFIG:-} ]]; then
		if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
			PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
		else
			PG_CONFIG=pg_config
		fi
	fi
	export PG_CONFIG
	local bindir
	bindir=$("$PG_CONFIG" --bindir 2>/dev/null) && export PATH="$bindir:$PATH"
}

# ----------------------------------------------------------------------------------------------
# Stage bookkeeping: each stage's status, time and a note for the summary.

STAGES=()
declare -A STATUS=() SECONDS_TAKEN=() NOTE=()

# run_stage NAME COMMAND...: runs COMMAND, records PASS/FAIL and the time it took.
run_stage() {
	local name=$1
	shift
	STAGES+=("$name")
	pgt_log "stage $name"
	local start=$SECONDS
	"$@"
	local rc=$?
	SECONDS_TAKEN[$name]=$((SECONDS - start))
	if [[ $rc -eq 0 ]]; then
		STATUS[$name]=PASS
	else
		STATUS[$name]=FAIL
		NOTE[$name]="${NOTE[$name]:-exit $rc}"
	fi
	return "$rc"
}

skip_stage() {
	local name=$1 why=$2
	STAGES+=("$name")
	STATUS[$name]=SKIP
	SECONDS_TAKEN[$name]=0
	NOTE[$name]=$why
	pgt_log "stage $name: skipped ($why)"
}

passed() {
	[[ ${STATUS[$1]:-} == PASS ]]
}

# ----------------------------------------------------------------------------------------------
# Stages

stage_deps() {
	if [[ $(id -u) -eq 0 ]]; then
		"$PGT_ROOT/scripts/install-deps.sh"
	else
		"$PGT_ROOT/scripts/install-deps.sh" || pgt_as_root "$PGT_ROOT/scripts/install-deps.sh"
	fi
}

stage_format() {
	if ! command -v clang-format >/dev/null; then
		NOTE[format]="clang-format not installed"
		return 0
	fi
	if ! git -C "$PGT_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		NOTE[format]="not a git checkout"
		return 0
	fi
	local files=()
	mapfile -t files < <(cd "$WORK" && find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.hpp' \) -print | sort)
	[[ ${#files[@]} -gt 0 ]] || return 0
	(cd "$WORK" && clang-format --dry-run --Werror "${files[@]}")
}

stage_copy() {
	pgt_copy_tree "$WORK" || return 1
	if [[ $(id -u) -eq 0 ]]; then
		chown -R postgres:postgres "$WORK" || return 1
	fi
	echo "copied $(cd "$WORK" && find . -type f | wc -l) files from $PGT_ROOT to $WORK"
}

stage_module() {
	(cd "$WORK" && make -j"$JOBS" PG_CONFIG="$PG_CONFIG" ERROR_ON_WARNING=1) || return 1
	# Only the entry points PostgreSQL looks up may be exported.
	(cd "$WORK" && make PG_CONFIG="$PG_CONFIG" check-exports) || return 1
	(cd "$WORK" && pgt_as_root make PG_CONFIG="$PG_CONFIG" install) || return 1
	if [[ $(id -u) -eq 0 ]]; then
		chown -R postgres:postgres "$WORK"
	fi
}

stage_cmake() {
	local targets=()
	if [[ $QUICK -eq 1 ]]; then
		targets=(--target pgt_unit_tests)
		[[ -d $WORK/tests/e2e ]] && targets+=(--target pgt_e2e_tests)
	fi
	cmake -S "$WORK" -B "$WORK/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DPGT_WERROR=ON -DPGT_SANITIZE=ON >"$WORK/logs/cmake-configure.log" 2>&1 ||
		{ cat "$WORK/logs/cmake-configure.log"; return 1; }
	grep -E 'not found|not built' "$WORK/logs/cmake-configure.log" || true
	cmake --build "$WORK/build" -j"$JOBS" "${targets[@]}"
}

stage_unit() {
	# GTEST_BRIEF: print only failures and the totals.
	GTEST_BRIEF=1 ctest --test-dir "$WORK/build" --output-on-failure -V 2>&1 |
		grep -vE '^(UpdateCTestConfiguration|Parse Config|Add coverage|SetCTestConfiguration|Internal ctest|Done constructing|Added [0-9]+ tests|test [0-9]+$|[0-9]+: (Test command|Working Directory|Test timeout|Running main))' |
		tee "$WORK/logs/unit.log"
	local rc=${PIPESTATUS[0]}
	local n
	n=$(grep -oE '\[  PASSED  \] [0-9]+ test' "$WORK/logs/unit.log" | grep -oE '[0-9]+' | awk '{ n += $1 } END { if (NR) print n }')
	[[ -n $n ]] && NOTE[unit]="$n gtest cases"
	return "$rc"
}

print_regress_failure() {
	local diffs=$1 logdir=$2
	if [[ -s $WORK/$diffs ]]; then
		echo "---- $diffs ----"
		cat "$WORK/$diffs"
	fi
	local f
	for f in "$WORK/$logdir"/*; do
		[[ -f $f ]] || continue
		echo "---- ${f#"$WORK"/} (last 200 lines) ----"
		tail -n 200 "$f"
	done
}

# regress_stage NAME LIST_VAR_TO_EMPTY DIFFS LOGDIR COUNT
regress_stage() {
	local name=$1 other=$2 diffs=$3 logdir=$4 count=$5
	if [[ $count -eq 0 ]]; then
		NOTE[$name]="no tests yet"
		return 0
	fi
	(cd "$WORK" && pgt_as_pg timeout --kill-after=30 1200 \
		make PG_CONFIG="$PG_CONFIG" installcheck "$other=") 2>&1 | tee "$WORK/logs/$name.log"
	local rc=${PIPESTATUS[0]}
	local summary
	summary=$(grep -E '^# (All|[0-9]+ of)|^ *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)' "$WORK/logs/$name.log" | tail -n 1 | sed 's/^[# ]*//; s/ *$//')
	NOTE[$name]=${summary:-"$count tests"}
	if [[ $rc -ne 0 ]]; then
		print_regress_failure "$diffs" "$logdir"
	fi
	return "$rc"
}

# Stops any cluster the end-to-end tests left running (after a crash or a timeout).
stop_leftover_e2e_clusters() {
	local pidfile
	for pidfile in "$WORK"/e2e-tmp/*/data/postmaster.pid; do
		[[ -f $pidfile ]] || continue
		echo "stopping leftover e2e cluster $(dirname "$pidfile")"
		pgt_as_pg "$($PG_CONFIG --bindir)/pg_ctl" -D "$(dirname "$pidfile")" -m immediate stop || true
	done
}

stage_e2e() {
	local bin=$WORK/build/pgt_e2e_tests
	[[ -x $bin ]] || { NOTE[e2e]="pgt_e2e_tests was not built (libpq not found?)"; return 1; }
	mkdir -p "$WORK/e2e-tmp"
	[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$WORK/e2e-tmp"
	local args=(--gtest_color=no)
	[[ -n ${PGT_E2E_FILTER:-} ]] && args+=("--gtest_filter=$PGT_E2E_FILTER")
	(cd "$WORK/build" && PGT_E2E_TMPDIR="$WORK/e2e-tmp" PGT_ORACLE_LONG="${PGT_ORACLE_LONG:-}" \
		PGT_FUZZ_LONG="${PGT_FUZZ_LONG:-}" PGT_FUZZ_SEED="${PGT_FUZZ_SEED:-}" \
		timeout --kill-after=30 "${PGT_E2E_TIMEOUT:-1200}" "$bin" "${args[@]}") 2>&1 |
		tee "$WORK/logs/e2e.log"
	local rc=${PIPESTATUS[0]}
	stop_leftover_e2e_clusters
	local n
	n=$(grep -oE '^\[==========\] [0-9]+ tests? from [0-9]+ test suites? ran' "$WORK/logs/e2e.log" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)
	[[ -n $n ]] && NOTE[e2e]="$n tests"
	[[ $rc -eq 124 || $rc -eq 137 ]] && NOTE[e2e]="timed out after ${PGT_E2E_TIMEOUT:-1200}s"
	return "$rc"
}

# ----------------------------------------------------------------------------------------------
# Main

WORK=$(mktemp -d /tmp/pgt_test.XXXXXX) || pgt_die "mktemp failed"
mkdir -p "$WORK/logs"

cleanup() {
	if [[ -d ${WORK:-} ]]; then
		stop_leftover_e2e_clusters >/dev/null 2>&1
		if [[ $KEEP -eq 1 ]]; then
			echo "kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "pg_trickle tests: checkout $PGT_ROOT, work tree $WORK, jobs $JOBS"
TOTAL_START=$SECONDS

if [[ $QUICK -eq 1 ]]; then
	skip_stage deps "--quick"
else
	run_stage deps stage_deps
fi
# Without the dependencies nothing below can work; still try, the summary says what failed.
resolve_pg_config
echo "PG_CONFIG $PG_CONFIG ($("$PG_CONFIG" --version 2>/dev/null || echo 'not found'))"

run_stage copy stage_copy || { pgt_log "cannot copy the tree"; exit 1; }

if [[ $QUICK -eq 1 ]]; then
	skip_stage format "--quick"
else
	run_stage format stage_format
fi

run_stage module stage_module
run_stage cmake stage_cmake

if passed cmake; then
	run_stage unit stage_unit
else
	skip_stage unit "cmake build failed"
fi

REGRESS_COUNT=$(cd "$WORK" && find sql -maxdepth 1 -name '*.sql' ! -name 'pg_trickle--*' 2>/dev/null | wc -l)
ISOLATION_COUNT=$(cd "$WORK" && find specs -maxdepth 1 -name '*.spec' 2>/dev/null | wc -l)
if passed module; then
	run_stage regress regress_stage regress ISOLATION regression.diffs log "$REGRESS_COUNT"
	run_stage isolation regress_stage isolation REGRESS output_iso/regression.diffs output_iso/log "$ISOLATION_COUNT"
else
	skip_stage regress "module build failed"
	skip_stage isolation "module build failed"
fi

if passed module && passed cmake; then
	run_stage e2e stage_e2e
else
	skip_stage e2e "module or cmake build failed"
fi

# ----------------------------------------------------------------------------------------------
# Summary

n_pass=0 n_fail=0 n_skip=0
printf '\n==== pg_trickle test summary (%ss) ====\n' "$((SECONDS - TOTAL_START))"
for name in "${STAGES[@]}"; do
	st=${STATUS[$name]}
	case $st in
	PASS) n_pass=$((n_pass + 1)) ;;
	FAIL) n_fail=$((n_fail + 1)) ;;
	SKIP) n_skip=$((n_skip + 1)) ;;
	esac
	printf '%-10s %-4s %5ss  %s\n' "$name" "$st" "${SECONDS_TAKEN[$name]}" "${NOTE[$name]:-}"
done
# Skipped stages only count as failures when something failed (--quick skips are intended).
if [[ $n_fail -gt 0 ]]; then
	echo "stages: $n_pass passed, $n_fail failed, $n_skip skipped"
	exit 1
fi
echo "stages: $n_pass passed, $n_fail failed, $n_skip skipped"
exit 0
