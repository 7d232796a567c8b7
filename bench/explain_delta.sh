#!/usr/bin/env bash
# Where a DIFFERENTIAL refresh spends its time: builds the data of differential_vs_full.sh (same
# tables, same queries, DIFFERENTIAL stream tables only), applies one round of changes at
# BENCH_RATE percent, then prints EXPLAIN ANALYZE of the statements a DIFFERENTIAL refresh runs,
# taken from pgtrickle.explain_st() and bound to the stream table's stored frontier, inside a
# transaction that is rolled back. The stream table refuses DML from anyone but the extension (its
# trigger __pgt_block_dml, ENABLE ALWAYS, so session_replication_role does not skip it): the
# benchmark, as the table's owner, disables that trigger inside the same transaction (ALTER TABLE
# ... DISABLE TRIGGER), so the rollback restores it; the guard itself is unchanged for users:
#   row-delta queries (filter, join): differential_apply_sql (delta + delete + insert, one statement)
#   grouped queries (agg): the affected-key query over delta_sql, then the DELETE and the INSERT
#                          of the affected groups (recomputed from the defining query)
# Finally it runs the real refresh_stream_table of each, with \timing, for reference.
#
# Environment: BENCH_ROWS (1000000), BENCH_DIM_ROWS (100000), BENCH_GROUPS (10000),
# BENCH_RATE (1), BENCH_QUERIES ("filter join agg"), BENCH_SEED (0.42), plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/big_dim.sh"

RATE=${BENCH_RATE:-1}
QUERIES=${BENCH_QUERIES:-"filter join agg"}

bench_start_cluster "pg_trickle.enabled = off"
echo "explain_delta: $(date -u '+%Y-%m-%d %H:%M UTC'), pg_trickle $BENCH_SO_INFO; big: $ROWS rows," \
	"dim: $DIM_ROWS, $NGROUPS groups, change rate $RATE %"
big_dim_load
for q in $QUERIES; do
	bench_psql -c "SELECT pgtrickle.create_stream_table('st_$q', \$q\$${QSQL[$q]}\$q\$,
	               schedule => '1h', refresh_mode => 'DIFFERENTIAL')" -c "VACUUM ANALYZE st_$q" >/dev/null
done
big_dim_change "$RATE"

for q in $QUERIES; do
	echo
	echo "==================== st_$q ($(bench_psql_val "SELECT value FROM pgtrickle.explain_st('st_$q')
	                                                    WHERE property = 'mode_reason'"))"
	support=$(bench_psql_val "SELECT value FROM pgtrickle.explain_st('st_$q') WHERE property = 'differential_support'")
	echo "differential_support: $support"
	# the frontier the next refresh starts from: the parameters of the delta statements
	bench_psql -At -F ' ' -c "SELECT quote_literal(frontier->>'snapshot'),
	                                 coalesce(quote_literal(frontier->>'own_xid'), 'NULL'),
	                                 coalesce(quote_literal(frontier->>'own_cid'), 'NULL')
	                          FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_$q'" >"$BENCH_DIR/params"
	read -r p1 p2 p3 <"$BENCH_DIR/params"
	# One statement for both shapes (grouped: affected keys, delete, recompute).
	apply=$(bench_psql_val "SELECT value FROM pgtrickle.explain_st('st_$q') WHERE property = 'differential_apply_sql'")
	bench_psql <<SQL
BEGIN;
-- the stream table refuses DML from anyone but the extension (trigger __pgt_block_dml, ENABLE
-- ALWAYS): disabled for this transaction only, which is rolled back
ALTER TABLE st_$q DISABLE TRIGGER __pgt_block_dml;
PREPARE apply(text, text, text) AS $apply;
\\echo '--- differential_apply_sql'
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) EXECUTE apply($p1, $p2, $p3);
ROLLBACK;
SQL
	echo "--- the real refresh:"
	bench_psql -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('st_$q')" | grep '^Time'
done
