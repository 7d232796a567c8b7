#!/usr/bin/env bash
# Mutation check of the DIFFERENTIAL engine (issue 9): breaks one delta rule at a time, rebuilds,
# and runs the pg_regress tests that cover that operator. Every mutation must make at least one
# of them fail ("killed"); a mutation that passes ("survived") means the operator's tests cannot
# see that rule being wrong, and the script exits 1.
#
#   scripts/mutation_check.sh            all mutations
#   scripts/mutation_check.sh join scan  the named ones
#
# Works on a copy of the tracked files and a private copy of the PostgreSQL installation (so the
# installed pg_trickle is untouched), in a temporary directory removed at the end. Needs what
# scripts/test.sh installs (run it once first). About 1 minute per mutation on 2 cores (one
# object rebuilt, one install, a temporary cluster per regress run). Not part of scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PORT=${PGT_MUTATION_PORT:-58532}

# name | file | exact text (one line) | replacement | regress tests | what the mutation breaks
MUTATIONS=(
	'scan|src/ivm/op_scan.cpp|return Materialized(Netted(b_list, cols, "1", "-1"));|return Materialized(Netted(b_list, cols, "1", "1"));|ivm_operators ivm_join_terms|a deleted row counts as inserted'
	'quiet|src/ivm/build.cpp|op.quiet_ = !op.leaves.empty() \&\& std::all_of(|op.quiet_ = !op.leaves.empty() \|\| std::all_of(|ivm_operators ivm_join_terms|every source treated as unchanged'
	'join|src/ivm/op_join.cpp|add(Variant(term, size % 2 == 0));|add(Variant(term, size % 2 == 1));|ivm_join_terms ivm_operators|the sign of the expanded join terms'
	'join_reduction|src/ivm/op_join.cpp|if (!Equated(self, {rtindexes_[j], static_cast<int>(b)})) {|if (Equated(self, {rtindexes_[j], static_cast<int>(b)})) {|ivm_join_terms ivm_decorrelate|semi-join reduction on columns that are not equated'
	'null_keys|src/ivm/sql.cpp|some_null_row + ") AND " + full;|some_null_row + ") AND false";|ivm_operators ivm_window|affected-key restriction: the branch of NULL keys dropped'
	'union_all|src/ivm/op_union_all.cpp|Prefix(CastColumns(*children[1], columns, "b")) + "b.__pgt_w FROM " +|Prefix(CastColumns(*children[1], columns, "b")) + "-b.__pgt_w FROM " +|ivm_operators|the right branch of UNION ALL negated'
	'aggregate|src/ivm/op_aggregate.cpp|restricted(Mode::kOld) + ") AS o(" + Names(n, true) + ")";|restricted(Mode::kNew) + ") AS o(" + Names(n, true) + ")";|ivm_operators|affected groups: old values read from the new input'
	'algebraic|src/delta/apply_algebraic.cpp|coalesce(j.__pgt_o_n, 0) + j.__pgt_dn AS __pgt_n|coalesce(j.__pgt_o_n, 0) - j.__pgt_dn AS __pgt_n|ivm_algebraic|group counts subtract the delta'
	'unit_sums|src/delta/apply_algebraic.cpp|sel += ", pg_catalog.sum(p." + v + ") FILTER (WHERE " + counted +|sel += ", pg_catalog.max(p." + v + ") FILTER (WHERE " + counted +|ivm_algebraic auto_cost|the state fill and rebuild of whole groups: a sum replaced by the maximum'
	'unit_counts|src/delta/apply_algebraic.cpp|return unit_weights ? "pg_catalog.count(*)" + f|return unit_weights ? "pg_catalog.count(DISTINCT p.__pgt_w)" + f|ivm_algebraic auto_cost|the state fill and rebuild of whole groups: rows counted once per distinct weight'
	'outer_join|src/ivm/op_outer_join.cpp|std::string old_sql = Level(restricted(0, Mode::kOld), restricted(1, Mode::kOld));|std::string old_sql = Level(restricted(0, Mode::kOld), restricted(1, Mode::kNew));|ivm_operators|outer join: old state of the right side read new'
	'semi_join|src/ivm/op_semi_join.cpp|(anti_ ? "NOT TRUE" : "TRUE")|(anti_ ? "TRUE" : "NOT TRUE")|ivm_operators ivm_decorrelate|semi and anti join swapped in the delta'
	'set_op|src/ivm/op_set_op.cpp|Counts(Mode::kOld, pred) + ") o";|Counts(Mode::kNew, pred) + ") o";|ivm_operators|set operation: old counts read new'
	'window|src/ivm/op_window.cpp|restricted(Mode::kOld) + ") AS o(" + Names(n, true) + ")";|restricted(Mode::kNew) + ") AS o(" + Names(n, true) + ")";|ivm_window|window partitions: old values read new'
	'lateral|src/ivm/op_lateral.cpp|Variant(old, Mode::kOld, true) + ") AS o(" + width + ") WHERE (" + changed +|Variant(old, Mode::kNew, true) + ") AS o(" + width + ") WHERE (" + changed +|ivm_lateral|LATERAL subquery: old rows read new'
	'recursive|src/ivm/op_recursive.cpp|"-o.__pgt_w FROM " + From(*this, Mode::kOld, "o") + " WHERE " + changed;|"-o.__pgt_w FROM " + From(*this, Mode::kNew, "o") + " WHERE " + changed;|ivm_recursive ivm_recursive_keyed|recursion: old result read new'
	'recompute|src/ivm/op_recompute.cpp|"-o.__pgt_w FROM " + From(*this, Mode::kOld, "o") + " WHERE " + changed;|"-o.__pgt_w FROM " + From(*this, Mode::kNew, "o") + " WHERE " + changed;|ivm_operators ivm_decorrelate|recomputed level: old result read new'
	'grouping_sets|src/ivm/op_grouping_sets.cpp|Prefix(CastColumns(*children[i], columns, alias)) + alias + ".__pgt_w FROM " +|Prefix(CastColumns(*children[i], columns, alias)) + alias + ".__pgt_w * 2 FROM " +|ivm_grouping_sets|grouping sets: each set counted twice'
)

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

WORK=$(mktemp -d /tmp/pgt_mutation.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$WORK"
# A relocatable copy of the PostgreSQL installation (bin, lib, share, headers).
inst=$WORK/pg
for d in "$($PG_CONFIG --bindir)" "$($PG_CONFIG --pkglibdir)" "$($PG_CONFIG --sharedir)" \
	"$($PG_CONFIG --includedir)" "$($PG_CONFIG --pkgincludedir)"; do
	mkdir -p "$inst$d"
	cp -a "$d/." "$inst$d/"
done
PGC=$inst$($PG_CONFIG --bindir)/pg_config
[[ $($PGC --pkglibdir) == "$inst$($PG_CONFIG --pkglibdir)" ]] || {
	echo "the copied PostgreSQL does not relocate" >&2
	exit 2
}
src=$WORK/src
mkdir -p "$src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
	tar -C "$src" -xf -
chown -R "$(id -u postgres 2>/dev/null || id -u)" "$WORK"
chmod -R a+rX "$WORK"

build() { (cd "$src" && as_pg make -s -j2 PG_CONFIG="$PGC" >"$WORK/build.log" 2>&1 && make -s PG_CONFIG="$PGC" install >/dev/null); }
echo "mutation check: building $(git -C "$ROOT" rev-parse --short HEAD) once"
build || { tail -30 "$WORK/build.log"; exit 2; }

selected=("$@")
survived=0
printf '%-15s %-9s %s\n' mutation result "tests (what the mutation breaks)"
for m in "${MUTATIONS[@]}"; do
	# Without -r: \| and \& in the table are a literal | and & (| separates the fields).
	IFS='|' read name file from to tests what <<<"$m"
	if [[ ${#selected[@]} -gt 0 && ! " ${selected[*]} " =~ " $name " ]]; then
		continue
	fi
	cp "$src/$file" "$WORK/original"
	n=$(FROM="$from" perl -ne '$n += () = /\Q$ENV{FROM}\E/g; END { print $n + 0 }' "$src/$file")
	if [[ $n -ne 1 ]]; then
		printf '%-15s %-9s %s\n' "$name" STALE "the text to mutate occurs $n times in $file"
		survived=1
		continue
	fi
	FROM="$from" TO="$to" perl -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$src/$file"
	result=killed
	if ! build; then
		result=killed # does not compile: not a useful mutation, but it cannot survive
		what="$what (does not compile)"
	elif (cd "$src" && as_pg make PG_CONFIG="$PGC" installcheck REGRESS="$tests" \
		REGRESS_PORT="$PORT" >"$WORK/regress.log" 2>&1); then
		result=SURVIVED
		survived=1
	fi
	printf '%-15s %-9s %s (%s)\n' "$name" "$result" "$tests" "$what"
	cp "$WORK/original" "$src/$file"
	touch "$src/$file"
done
build >/dev/null || true
if [[ $survived -ne 0 ]]; then
	echo "a mutation survived (or is stale): the tests above cannot see that rule being wrong" >&2
	exit 1
fi
echo "every mutation was killed"
