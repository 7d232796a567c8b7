#!/usr/bin/env bash
# Where the change-capture write overhead goes: the bulk statements of write_overhead.sh on
# identical tables that differ only in their AFTER ... FOR EACH STATEMENT triggers, in the same run:
#
#   plain           no trigger (baseline)
#   noop            statement triggers with transition tables whose function does nothing
#                   (cost of collecting the transition tables and firing the trigger)
#   unlogged        the triggers copy the transition tables into an UNLOGGED buffer, no index
#   logged          the same into a logged buffer, no index
#   logged_idx      the same plus a btree index on the transaction id column: the layout that
#                   pg_trickle's capture uses (compare with the next row)
#   pg_trickle      pg_trickle's own capture (a DIFFERENTIAL stream table reads the table)
#
# The hand-written triggers write the same columns as pg_trickle's buffers (transaction id, action,
# all columns of the row; an UPDATE writes the old and the new row). Times are the backend's CPU
# time (/proc/self/schedstat) and wall time per statement; medians over BENCH_REPEATS, ratios to
# plain. Buffers are emptied and tables vacuumed between repetitions (not timed); scheduler and
# autovacuum are off.
#
# Environment: BENCH_BULK_ROWS (100000), BENCH_BASE_ROWS (100000), BENCH_REPEATS (5),
# plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BULK=${BENCH_BULK_ROWS:-100000}
BASE=${BENCH_BASE_ROWS:-100000}
REPEATS=${BENCH_REPEATS:-5}
VARIANTS="plain noop unlogged logged logged_idx pg_trickle"

bench_start_cluster "pg_trickle.enabled = off" "autovacuum = off"
echo "capture_breakdown: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	"$(bench_psql_val "SHOW server_version"), pg_trickle $BENCH_SO_INFO," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bulk statements of $BULK rows on tables of $BASE rows, repeats: $REPEATS"

{
	for v in $VARIANTS; do
		cat <<SQL
CREATE TABLE t_$v (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL,
                   c timestamptz NOT NULL DEFAULT now(), note text NOT NULL);
CREATE INDEX ON t_$v (a);
INSERT INTO t_$v (id, a, b, note) SELECT i, i % 1000, i % 777, md5(i::text) FROM generate_series(1, $BASE) i;
SQL
		case $v in
		noop)
			cat <<'SQL'
CREATE FUNCTION cap_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER c_ins AFTER INSERT ON t_noop REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION cap_noop();
CREATE TRIGGER c_upd AFTER UPDATE ON t_noop REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION cap_noop();
CREATE TRIGGER c_del AFTER DELETE ON t_noop REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION cap_noop();
SQL
			;;
		unlogged | logged | logged_idx)
			local_unlogged=$([[ $v == unlogged ]] && echo UNLOGGED || true)
			cat <<SQL
CREATE $local_unlogged TABLE buf_$v AS SELECT NULL::xid8 AS x, NULL::"char" AS op, t.* FROM t_$v t WITH NO DATA;
$([[ $v == logged_idx ]] && echo "CREATE INDEX ON buf_$v (x);")
CREATE FUNCTION cap_$v() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO buf_$v SELECT pg_current_xact_id(), 'I', n.* FROM n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO buf_$v SELECT pg_current_xact_id(), 'D', o.* FROM o;
    INSERT INTO buf_$v SELECT pg_current_xact_id(), 'I', n.* FROM n;
  ELSE
    INSERT INTO buf_$v SELECT pg_current_xact_id(), 'D', o.* FROM o;
  END IF;
  RETURN NULL;
END \$\$;
CREATE TRIGGER c_ins AFTER INSERT ON t_$v REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION cap_$v();
CREATE TRIGGER c_upd AFTER UPDATE ON t_$v REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION cap_$v();
CREATE TRIGGER c_del AFTER DELETE ON t_$v REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION cap_$v();
SQL
			;;
		pg_trickle)
			echo "SELECT pgtrickle.create_stream_table('st_pg_trickle', 'SELECT id, a, b FROM t_pg_trickle WHERE a % 10 = 0', schedule => '1h', refresh_mode => 'DIFFERENTIAL');"
			;;
		esac
		echo "VACUUM ANALYZE t_$v;"
	done
} >"$BENCH_DIR/setup.sql"
chmod a+r "$BENCH_DIR/setup.sql"
bench_psql -f "$BENCH_DIR/setup.sql" >/dev/null
buffer=$(bench_psql_val "SELECT format('%I.%I', buffer_schema, buffer_name)
                         FROM pgtrickle.pgt_change_tracking
                         WHERE source_relid = 't_pg_trickle'::regclass")

RAW=$(mktemp)
trap 'rm -f "$RAW"; bench_cleanup' EXIT
lo=$((BASE + 1))
hi=$((BASE + BULK))
for rep in $(seq 1 "$REPEATS"); do
	# rotate the order of the variants from one repetition to the next
	mapfile -t V < <(tr ' ' '\n' <<<"$VARIANTS")
	k=$(((rep - 1) % ${#V[@]}))
	order=("${V[@]:k}" "${V[@]:0:k}")
	script="\\o /dev/null"$'\n'"\\timing on"$'\n'
	for v in "${order[@]}"; do
		script+=$(bench_timed_sql "$v:insert" "INSERT INTO t_$v (id, a, b, note)
SELECT i, i % 1000, i % 777, md5(i::text) FROM generate_series($lo, $hi) i;")$'\n'
		script+=$(bench_timed_sql "$v:update" "UPDATE t_$v SET a = a + 1, b = b + 1, note = upper(note) WHERE id BETWEEN $lo AND $hi;")$'\n'
		script+=$(bench_timed_sql "$v:delete" "DELETE FROM t_$v WHERE id BETWEEN $lo AND $hi;")$'\n'
	done
	bench_psql <<<"$script" | bench_parse_timed | tr ':' ' ' >>"$RAW"
	{
		for v in unlogged logged logged_idx; do echo "TRUNCATE buf_$v;"; done
		echo "SELECT pgtrickle.refresh_stream_table('st_pg_trickle');"
		echo "VACUUM $buffer;"
		for v in $VARIANTS; do echo "VACUUM t_$v;"; done
	} | bench_psql >/dev/null
	echo "repetition $rep done" >&2
done

echo
echo "Medians over $REPEATS runs: backend CPU ms (wall ms) per statement, and CPU ratio to plain:"
printf '%-12s %22s %22s %22s\n' variant "INSERT $BULK" "UPDATE $BULK" "DELETE $BULK"
for v in $VARIANTS; do
	line=$(printf '%-12s' "$v")
	for op in insert update delete; do
		mapfile -t W < <(awk -v v="$v" -v o="$op" '$1 == v && $2 == o { print $3 }' "$RAW")
		mapfile -t C < <(awk -v v="$v" -v o="$op" '$1 == v && $2 == o { print $4 }' "$RAW")
		mapfile -t B < <(awk -v o="$op" '$1 == "plain" && $2 == o { print $4 }' "$RAW")
		c=$(bench_median "${C[@]}")
		w=$(bench_median "${W[@]}")
		b=$(bench_median "${B[@]}")
		line+=$(printf ' %22s' "$(printf '%.0f (%.0f) %sx' "$c" "$w" "$(bench_ratio "$c" "$b")")")
	done
	echo "$line"
done
