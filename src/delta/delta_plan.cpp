// DIFFERENTIAL planning (see delta_plan.hpp): the defining query is parsed, analyzed and rewritten
// (views become subqueries) and handed to the operator IR (src/ivm), whose root yields the delta.
#include "delta/delta_plan.hpp"

#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "ivm/algebraic.hpp"
#include "ivm/ir.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "utils/builtins.h"
#include "nodes/nodes.h"
#include "utils/lsyscache.h"
}

namespace pgtrickle::delta {

namespace {

using bridge::PgCall;

std::string ColumnAliases(std::size_t n) {
	std::string out;
	for (std::size_t i = 0; i < n; i++) {
		out += (i ? ", " : "") + std::string("__pgt_c") + std::to_string(i + 1);
	}
	return out;
}

} // namespace

namespace {

// Q(New) − the stored rows, netted by identity: the rows to insert (w > 0) and to delete (w < 0)
// to turn the storage into the query's result.
std::string StoredDifference(const std::string &defining_query, Oid storage,
                             const std::vector<ivm::Column> &outputs, const DeltaPlan &plan) {
	std::string table = PgCall([&] {
		return quote_qualified_identifier(get_namespace_name(get_rel_namespace(storage)),
		                                  get_rel_name(storage));
	});
	std::size_t n = outputs.size();
	std::string stored;
	std::vector<std::string> names;
	for (std::size_t i = 0; i < n; i++) {
		stored += bridge::QuoteIdent(plan.column_names[i]) + ", ";
		names.push_back("__pgt_c" + std::to_string(i + 1));
	}
	return ivm::NetByIdentity(
	    "SELECT q.*, 1::pg_catalog.int8 AS __pgt_w FROM (\n" + defining_query + "\n) AS q(" +
	        ColumnAliases(n) + ") UNION ALL SELECT " + stored + "-1::pg_catalog.int8 FROM " + table,
	    names, ivm::KindsOf(outputs));
}

// The output columns' names, types, equality operators and row-hash membership.
void DescribeColumns(const std::vector<ivm::Column> &outputs, DeltaPlan *plan) {
	for (const auto &c : outputs) {
		plan->column_names.push_back(c.name);
		plan->column_types.push_back(
		    PgCall([&] { return format_type_with_typemod(c.type, c.typmod); }));
		// Rows are matched by identity (record_image_eq), which works for every type; the first
		// column's "=" (when it has one) narrows the search to its index.
		plan->eq_operators.push_back(ivm::EqualityOperator(c.type));
		ivm::ImageKind kind = ivm::ImageKindOf(c.type, c.collation);
		plan->hash_columns.push_back(kind != ivm::ImageKind::kOther &&
		                             kind != ivm::ImageKind::kBytewise &&
		                             PgCall([&] { return getBaseType(c.type) == c.type; }));
	}
	plan->first_column_has_eq = !plan->eq_operators.empty() && !plan->eq_operators[0].empty();
	plan->first_column_is_row =
	    !outputs.empty() && PgCall([&] { return type_is_rowtype(outputs[0].type); });
}

// Top-K: ORDER BY … LIMIT n at the top. Rule (Z-sets): the storage table holds the previous
// result R_old (up to n rows), so Δ = Q(New) − R_old, netted by identity. Q(New) is the query
// itself (a top-N sort, or an index scan, over its whole input); rows that stay in the top n net
// to nothing and a row leaving it promotes the next one. Ties at the n-th row are resolved as
// the query resolves them, like a FULL refresh. The rest of the query is checked by building its
// operators (what they could not maintain is refused here too).
std::string TopKDelta(Query *top, const std::string &defining_query, Oid storage,
                      const std::vector<ivm::Column> &outputs, DeltaPlan *plan) {
	if (top->sortClause == NIL || top->limitCount == nullptr) {
		ivm::Reject("LIMIT/OFFSET");
	}
	Query *rest = (Query *)PgCall([&] { return copyObjectImpl(top); });
	rest->limitCount = nullptr;
	rest->limitOffset = nullptr;
	rest->sortClause = NIL;
	ivm::Builder builder;
	std::unique_ptr<ivm::Op> root = ivm::BuildPlan(rest, builder);
	plan->leaves = root->leaves;
	plan->operators = "top_k(" + root->Describe() + ")";
	return StoredDifference(defining_query, storage, outputs, *plan);
}

} // namespace

DeltaPlan PlanDelta(const std::string &defining_query, Oid storage, const std::vector<Oid> &quiet) {
	DeltaPlan plan;
	Query *top = ivm::ParseOne(defining_query);
	std::vector<ivm::Column> outputs = ivm::OutputColumns(top);
	DescribeColumns(outputs, &plan);
	try {
		if ((top->limitCount != nullptr || top->limitOffset != nullptr) && OidIsValid(storage)) {
			plan.shape = Shape::kRows;
			plan.delta_sql = TopKDelta(top, defining_query, storage, outputs, &plan);
			return plan;
		}
		ivm::Builder builder;
		builder.quiet = quiet;
		std::unique_ptr<ivm::Op> root = ivm::BuildPlan(top, builder);
		plan.leaves = root->leaves;
		plan.operators = root->Describe();
		// The recursive operator also evaluates its recursion over the new and the old contents of
		// its tables (bench/differential_vs_full.sh: 40-160x a matview refresh of the query).
		plan.recomputes = root->Contains("recompute") || root->Contains("recursive");
		// A grouping at the top whose keys are selected: delete and recompute the affected groups
		// (keys of a type with equality and not arrays, looked up with "= ANY").
		std::vector<int> keys;
		std::string key_sql;
		bool grouped = root->SelectedKeys(&keys, &key_sql);
		for (int k : keys) {
			Oid type = outputs[static_cast<std::size_t>(k)].type;
			if (plan.eq_operators[static_cast<std::size_t>(k)].empty() ||
			    PgCall([&] { return type_is_array(type); })) {
				grouped = false;
			}
		}
		if (grouped) {
			plan.shape = Shape::kGroups;
			plan.key_columns = keys;
			plan.delta_sql = key_sql;
		} else {
			plan.shape = Shape::kRows;
			std::size_t n = outputs.size();
			std::vector<std::string> names;
			for (std::size_t i = 0; i < n; i++) {
				names.push_back("__pgt_c" + std::to_string(i + 1));
			}
			plan.delta_sql = ivm::NetByIdentity("SELECT * FROM (\n" + root->Sql(ivm::Mode::kDelta) +
			                                        "\n) AS v(" + ColumnAliases(n) + ", __pgt_w)",
			                                    names, ivm::KindsOf(outputs));
		}
		// Aggregates with algebraic rules: maintained from their partial state.
		if (root->Algebraic(&plan.algebraic)) {
			plan.fallback = plan.shape;
			plan.shape = Shape::kAlgebraic;
		}
	} catch (const ivm::Unsupported &u) {
		plan.shape = Shape::kUnsupported;
		plan.reason = u.reason;
		plan.delta_sql.clear();
	}
	return plan;
}

DeltaPlan PlanStoredDifference(const std::string &defining_query, Oid storage) {
	DeltaPlan plan;
	Query *top = ivm::ParseOne(defining_query);
	std::vector<ivm::Column> outputs = ivm::OutputColumns(top);
	DescribeColumns(outputs, &plan);
	plan.shape = Shape::kRows;
	plan.operators = "stored_difference";
	plan.delta_sql = StoredDifference(defining_query, storage, outputs, plan);
	return plan;
}

} // namespace pgtrickle::delta
