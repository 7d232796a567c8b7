// Delta application (see apply.hpp).
#include "delta/apply.hpp"
#include "delta/apply_algebraic.hpp"

#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/spi.hpp"

#include <algorithm>
#include <optional>

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

namespace pgtrickle::delta {

using bridge::QuoteIdent;
using bridge::SpiExec;
using bridge::SpiOptions;
using bridge::Value;

namespace {

std::string Col(const std::string &alias, const DeltaPlan &plan, std::size_t i) {
	return alias + "." + QuoteIdent(plan.column_names[i]);
}

std::string DeltaCol(std::size_t i) {
	return "d.__pgt_c" + std::to_string(i + 1);
}

// The delta's column i, read from the CTE `alias`, cast to the storage column's type (a UNION
// ALL may resolve a branch's column to a different type than the one the storage was created
// with).
std::string TypedCol(const std::string &alias, const DeltaPlan &plan, std::size_t i) {
	return alias + ".__pgt_c" + std::to_string(i + 1) + "::" + plan.column_types[i];
}

// One statement: net row delta, then delete |w| identical rows for w < 0 and insert w copies
// for w > 0. Rows are matched by binary identity (record_image_eq over every column, NULLs
// equal), never by the types' "=": 1.0 and 1.00, or 'a' and 'A' under a case-insensitive
// collation, are different rows. The rows to delete are found
//  - when the first column has "=": by a lateral lookup per delta row narrowed by it (identical
//    values are always equal) through the index pg_trickle creates on it, LIMIT |w|; a NULL
//    first column (for a composite: the whole value NULL) is looked up in a second branch. A
//    set-based join measured slower here (docs/benchmarks.md, "Apply without the per-row
//    lookup"): with the index a nested loop of lookups is what the planner picks anyway, and a
//    hash join reads the whole storage;
//  - otherwise, when some columns have a hash that is the same for identical values
//    (DeltaPlan::hash_columns): by one hash join of the negative delta rows (CTE n, each
//    numbered: the delta is netted, so each is a distinct row image) with the storage on
//    pg_catalog.hash_record over those columns (NULL hashes as 0) and record_image_eq, each stored
//    row matching at most one delta row, row_number() per delta row keeping |w| of its identical
//    copies (a lateral lookup would scan the whole storage per delta row);
//  - otherwise by a lateral scan per delta row with LIMIT |w|.
std::string RowsApplySql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	std::string table = st.Qualified();
	std::string s_cols;
	std::string n_cols;
	std::string s_hash;
	std::string n_hash;
	for (std::size_t i = 0; i < plan.column_names.size(); i++) {
		s_cols += (i ? ", " : "") + Col("s", plan, i);
		n_cols += (i ? ", " : "") + TypedCol("n", plan, i);
		if (i < plan.hash_columns.size() && plan.hash_columns[i]) {
			s_hash += (s_hash.empty() ? "" : ", ") + Col("s", plan, i);
			n_hash += (n_hash.empty() ? "" : ", ") + TypedCol("n", plan, i);
		}
	}
	std::string identical = "pg_catalog.record_image_eq(ROW(" + s_cols + "), ROW(" + n_cols + "))";
	auto lateral = [&](const std::string &lookup, const std::string &delta_filter) {
		return "SELECT v.ctid FROM d n CROSS JOIN LATERAL (SELECT s.ctid FROM " + table +
		       " s WHERE " + lookup + identical + " LIMIT (-n.__pgt_w)) v WHERE n.__pgt_w < 0" +
		       delta_filter;
	};
	std::string all_victims;
	std::string numbered; // the CTE n of the hash join
	if (plan.first_column_has_eq) {
		// Whether the whole value is NULL: for a composite, `IS NULL` tests each field instead
		// (ROW(NULL, 'p') is neither NULL nor NOT NULL, and such rows were never matched).
		const std::string is_null =
		    plan.first_column_is_row ? " IS NOT DISTINCT FROM NULL" : " IS NULL";
		const std::string not_null =
		    plan.first_column_is_row ? " IS DISTINCT FROM NULL" : " IS NOT NULL";
		all_victims = lateral(Col("s", plan, 0) + " " + plan.eq_operators[0] + " " +
		                          TypedCol("n", plan, 0) + " AND ",
		                      " AND n.__pgt_c1" + not_null) +
		              " UNION ALL " +
		              lateral(Col("s", plan, 0) + is_null + " AND ", " AND n.__pgt_c1" + is_null);
	} else if (!s_hash.empty()) {
		numbered = ", n AS MATERIALIZED (SELECT d.*, pg_catalog.row_number() OVER () AS __pgt_i "
		           "FROM d WHERE d.__pgt_w < 0)";
		all_victims = "SELECT m.__pgt_t FROM (SELECT m.__pgt_t, m.__pgt_w, "
		              "pg_catalog.row_number() OVER (PARTITION BY m.__pgt_i) AS __pgt_r FROM "
		              "(SELECT s.ctid AS __pgt_t, n.__pgt_w, n.__pgt_i FROM n JOIN " +
		              table + " s ON pg_catalog.hash_record(ROW(" + s_hash +
		              ")) = pg_catalog.hash_record(ROW(" + n_hash + ")) AND " + identical +
		              ") m) m WHERE m.__pgt_r <= -m.__pgt_w";
	} else {
		all_victims = lateral("", "");
	}
	std::string insert_cols;
	for (std::size_t i = 0; i < plan.column_names.size(); i++) {
		insert_cols += (i ? ", " : "") + DeltaCol(i);
	}
	return "WITH d AS MATERIALIZED (\n" + plan.delta_sql + "\n)" + numbered +
	       ", del AS (DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(" + all_victims +
	       ")) RETURNING 1), ins AS (INSERT INTO " + table + " (" + st.column_list + ") SELECT " +
	       insert_cols +
	       " FROM d, pg_catalog.generate_series(1, d.__pgt_w) WHERE d.__pgt_w > 0 RETURNING 1) "
	       "SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM ins)";
}

// Predicate selecting the affected groups, on columns of `alias`, from the affected keys in the
// CTE k, typed as the keys themselves (never through text): per key column, its value is one of
// k's (by the type's "=", which is how GROUP BY and DISTINCT form groups) or it is NULL and k
// has a NULL key. The operator is named (plan.eq_operators): this SQL runs under the pinned
// search_path, where a bare "=" on citext would resolve to text's case-sensitive "=".
// Uncorrelated, so the planner evaluates each array once and can push the
// predicate down into the defining query's grouping (and to an index on the source).
std::string GroupPredicate(const std::string &alias, const DeltaPlan &plan) {
	std::string where = "EXISTS (SELECT 1 FROM k)";
	for (std::size_t k = 0; k < plan.key_columns.size(); k++) {
		std::size_t c = static_cast<std::size_t>(plan.key_columns[k]);
		std::string col = alias + "." + QuoteIdent(plan.column_names[c]);
		std::string key = "k.__pgt_c" + std::to_string(k + 1);
		// IS [NOT] DISTINCT FROM NULL, not IS [NOT] NULL: a composite key with a NULL field
		// (ROW(NULL, 'p')) is neither NULL nor NOT NULL, and its group was never matched.
		where += " AND (" + col + " " + plan.eq_operators[c] + " ANY (ARRAY(SELECT " + key +
		         " FROM k WHERE " + key + " IS DISTINCT FROM NULL)) OR (" + col +
		         " IS NOT DISTINCT FROM NULL AND EXISTS (SELECT 1 FROM k WHERE " + key +
		         " IS NOT DISTINCT FROM NULL)))";
	}
	return where;
}

// One statement: the affected group keys, then delete those groups from the storage and insert
// them recomputed from the defining query. Both sub-statements see the same snapshot, so the
// insert never sees the delete's work and vice versa.
std::string GroupsApplySql(const catalog::StreamTable &st, const DeltaPlan &plan) {
	std::string table = st.Qualified();
	return "WITH k AS MATERIALIZED (\n" + plan.delta_sql + "\n), del AS (DELETE FROM " + table +
	       " s WHERE " + GroupPredicate("s", plan) + " RETURNING 1), ins AS (INSERT INTO " + table +
	       " (" + st.column_list + ") SELECT * FROM (\n" + st.defining_query + "\n) AS q WHERE " +
	       GroupPredicate("q", plan) +
	       " RETURNING 1) SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM ins)";
}

} // namespace

// Runs `statement` with jit = off (restored afterwards, also on error): the delta statements are
// large trees of small subqueries whose row estimates (set-returning functions at 1000 rows)
// multiply into costs far above jit_above_cost, and compiling them takes seconds while running
// them takes milliseconds.
bridge::SpiResult WithoutJit(const std::string &statement, const std::vector<Value> &params,
                             const SpiOptions &options) {
	bridge::ScopedSetting jit("jit", "off", PGC_USERSET);
	return SpiExec(statement, params, options);
}

catalog::RefreshOutcome ApplyDelta(const catalog::StreamTable &st, const DeltaPlan &plan,
                                   const capture::Frontier &since, Snapshot snapshot) {
	catalog::RefreshOutcome outcome;
	outcome.action = "DIFFERENTIAL";
	SpiOptions options;
	options.snapshot = snapshot;
	std::vector<Value> params{since.snapshot, since.own_xid, since.own_cid};
	if (plan.shape == Shape::kAlgebraic) {
		return ApplyAlgebraic(st, plan, since, snapshot);
	}
	if (plan.shape == Shape::kRows) {
		auto r = WithoutJit(RowsApplySql(st, plan), params, options);
		outcome.rows_deleted = std::stoll(r.Get(0, 0, "0"));
		outcome.rows_inserted = std::stoll(r.Get(0, 1, "0"));
		return outcome;
	}
	// Grouped: one statement deletes and recomputes the affected groups. It is not read-only, so
	// SPI runs it on a copy of the unit's snapshot with the current command id: it sees what the
	// unit's earlier members wrote in this transaction, exactly like the pending changes it reads
	// (a read-only statement would see the snapshot's old command id, and a delta computed from
	// new changes over old upstream contents).
	auto r = WithoutJit(GroupsApplySql(st, plan), params, options);
	outcome.rows_deleted = std::stoll(r.Get(0, 0, "0"));
	outcome.rows_inserted = std::stoll(r.Get(0, 1, "0"));
	return outcome;
}

namespace {

// The stored rows of st, as the planner estimates a scan of its storage (its size and density;
// the last result's real size, where the planner's estimate of the query often is far off).
double StoredRows(const catalog::StreamTable &st) {
	return bridge::EstimateStatement("SELECT 1 FROM " + st.Qualified()).rows;
}

} // namespace

core::PlanCost EstimateDifferential(const catalog::StreamTable &st, const DeltaPlan &plan,
                                    const capture::Frontier &since, const PendingSize &pending) {
	std::vector<Value> params{since.snapshot, since.own_xid, since.own_cid};
	Shape shape = plan.shape;
	if (shape == Shape::kAlgebraic && !HasAlgebraicState(st, plan)) {
		shape = plan.fallback;
	}
	core::PlanCost c;
	if (shape == Shape::kRows) {
		// The delta query alone: the apply statement's insert multiplies each row by
		// generate_series(1, weight), which the planner counts as 1,000 rows per delta row. Each
		// netted delta row is one row written (deleted or inserted; weights are nearly always ±1).
		// The planner estimates a filter over the netted changes with default selectivities (an
		// equality: 0.5 %), so the rows written are at least the pending change rows times the
		// query's rows per source row (stored rows over the sources' rows).
		bridge::PlanEstimate e = bridge::EstimateStatement(plan.delta_sql, params);
		c.cost = e.cost;
		c.plan_factor = core::kDeltaPlanFactor;
		c.written = e.rows;
		if (pending.source_rows > 0) {
			c.written = std::max(c.written, static_cast<double>(pending.change_rows) *
			                                    StoredRows(st) / pending.source_rows);
		}
		c.write_tuple_costs = core::kLookupWriteTupleCosts;
		return c;
	}
	if (shape == Shape::kAlgebraic) {
		// The per-group sums of the changes (the apply statement's plan also counts the
		// recomputation of groups whose state cannot stay exact over whole tables, which it
		// rarely runs): each affected group's state row and stored row are replaced (4 writes).
		bridge::PlanEstimate e = bridge::EstimateStatement(AlgebraicDeltaSql(plan), params);
		c.cost = e.cost;
		c.plan_factor = core::kDeltaPlanFactor;
		c.written = 4 * e.rows;
		return c;
	}
	// Affected groups recomputed: the changes' keys (a delta query) and those groups recomputed
	// from the sources (a plain query, which dominates), planned as the SELECT it is (planning
	// the apply statement would lock the storage for writing in explain_st); each recomputed row
	// is deleted and inserted.
	bridge::PlanEstimate e = bridge::EstimateStatement(
	    "WITH k AS MATERIALIZED (\n" + plan.delta_sql + "\n) SELECT * FROM (\n" +
	        st.defining_query + "\n) AS q WHERE " + GroupPredicate("q", plan),
	    params);
	c.cost = e.cost;
	c.written = 2 * e.rows;
	return c;
}

core::PlanCost EstimateFull(const catalog::StreamTable &st, const DeltaPlan &plan,
                            bool writes_difference) {
	core::PlanCost c;
	if (writes_difference) {
		// The difference of the result and the stored rows (it reads both); its rows are the
		// rows written.
		bridge::PlanEstimate e =
		    bridge::EstimateStatement(PlanStoredDifference(st.defining_query, st.relid).delta_sql);
		c.cost = e.cost;
		c.written = e.rows;
		return c;
	}
	// Every stored row deleted, every result row inserted. The result is taken to be at least as
	// large as the stored rows (the planner's estimate of a filtered query is often far below its
	// real size). An algebraic plan's FULL refresh aggregates once into its state and writes the
	// rows from it (refresh: delta::FullFromState): one more write per group.
	// The stored rows are estimated from a scan (the delete's input), not by planning the DELETE,
	// which would lock the storage for writing in explain_st.
	bridge::PlanEstimate query =
	    bridge::EstimateStatement("SELECT * FROM (\n" + st.defining_query + "\n) AS __pgt_q");
	bridge::PlanEstimate stored = bridge::EstimateStatement("SELECT 1 FROM " + st.Qualified());
	double result = std::max(query.rows, stored.rows);
	c.cost = query.cost + stored.cost;
	c.written = result + stored.rows + (plan.shape == Shape::kAlgebraic ? result : 0.0);
	return c;
}

std::string DescribeApply(const catalog::StreamTable &st, const DeltaPlan &plan) {
	if (plan.shape == Shape::kAlgebraic) {
		return AlgebraicApplySql(st, plan);
	}
	if (plan.shape == Shape::kRows) {
		return RowsApplySql(st, plan);
	}
	return GroupsApplySql(st, plan);
}

} // namespace pgtrickle::delta
