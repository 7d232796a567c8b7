// The DIFFERENTIAL engine's planner: decides whether a defining query can be maintained from its
// sources' captured changes, and generates the SQL that computes and applies its delta.
//
// The query becomes a tree of operators over Z-sets (rows with signed weights; src/ivm/ir.hpp and
// docs/architecture.md, "Differential refresh"), each with its own delta rule. The root's delta,
// netted by identity, is applied as rows (kRows); a top-level grouping whose keys are selected is
// applied by deleting and recomputing the affected groups (kGroups), or, when every aggregate has
// an algebraic rule, from partial state kept in a side table (kAlgebraic, apply_algebraic.hpp).
#pragma once

#include <string>
#include <vector>

#include "ivm/algebraic.hpp"

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::delta {

enum class Shape { kUnsupported, kRows, kGroups, kAlgebraic };

struct DeltaPlan {
	Shape shape = Shape::kUnsupported;
	std::string reason; // why not supported (names the construct)
	// kRows: SELECT __pgt_c1.., __pgt_w: net weighted delta, one row per distinct row by binary
	// identity. Parameters $1..$3: the stream table's frontier (capture::PendingPredicate).
	// kGroups: SELECT DISTINCT __pgt_c1..: affected group keys.
	std::string delta_sql;
	std::vector<int> key_columns;     // kGroups: 0-based output columns forming the group key
	bool first_column_has_eq = false; // kRows: rows are looked up by their first column
	// The first column is of a composite type: `IS NULL` tests every field of it (a row with one
	// NULL field is neither NULL nor NOT NULL), so its lookup tests the whole value for NULL.
	bool first_column_is_row = false;
	std::vector<std::string> column_names; // storage columns, in order
	std::vector<std::string> column_types; // format_type of each
	// Per output column, its type's default equality written as OPERATOR(schema.name) (empty
	// when the type has none). SQL run under the pinned search_path must name it: a bare "="
	// would resolve to pg_catalog's operator of a type it casts to (citext's "=" would become
	// text's, case-sensitive), or not at all.
	std::vector<std::string> eq_operators;
	// Per output column, whether it enters the row hash that apply joins stored rows and delta
	// rows on (pg_catalog.hash_record): a base type whose hash is the same for binary-identical
	// values under any collation (ivm::ImageKind other than kOther and kBytewise).
	std::vector<bool> hash_columns;
	std::vector<Oid> leaves; // leaf relations (may repeat for self-joins)
	std::string operators;   // the operator tree, e.g. "aggregate(join(scan a, scan b))"
	// A query level is maintained by the recompute or the recursive operator (evaluated over the
	// new and the old contents of its tables): AUTO refreshes such a plan FULL
	// (refresh::DecideMode). Not set for
	// a top-level ORDER BY … LIMIT, whose delta is one run of the query against the stored rows.
	bool recomputes = false;
	// kAlgebraic: the aggregation's algebraic plan, and the shape (kGroups, or kRows without
	// GROUP BY) whose fields above are also filled, applied while the state is not built.
	ivm::AlgebraicPlan algebraic;
	Shape fallback = Shape::kUnsupported;
};

// Plans the stored (fully qualified) defining query. Must run under the pinned search_path, in a
// transaction. C++ regime; needs SPI (to find change buffers). `storage`: the stream table's
// storage table, which holds the query's previous result; a top-level ORDER BY … LIMIT (top-K) is
// maintained against it (without it, LIMIT is refused).
// `quiet`: the sources with no pending change in the refresh this plan is for (their delta is
// empty and their old contents are their new ones, so the delta reads neither their buffer nor
// an Old state of them); empty when unknown.
DeltaPlan PlanDelta(const std::string &defining_query, Oid storage = InvalidOid,
                    const std::vector<Oid> &quiet = {});

// A FULL refresh that writes only what differs: a kRows plan whose delta is the query's result
// minus the rows stored in `storage`, netted by identity (no parameters). Applied by ApplyDelta,
// it deletes the stored rows that are not in the result and inserts the result rows that are not
// stored, with their multiplicities; unchanged rows are not rewritten. Must run under the pinned
// search_path, in a transaction. C++ regime.
DeltaPlan PlanStoredDifference(const std::string &defining_query, Oid storage);

} // namespace pgtrickle::delta
