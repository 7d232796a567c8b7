// Algebraic maintenance of a top-level aggregation (see op_aggregate.cpp and
// src/delta/apply_algebraic.cpp): what the apply needs to know about the level, produced by the
// aggregate operator from the query's node trees (every user expression is deparsed by
// PostgreSQL; the apply only combines positional columns).
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::ivm {

// The aggregates maintained from their partial state (docs/architecture.md, "Algebraic
// aggregates").
enum class AggKind {
	kCount,      // count(*), count(x): int8 count
	kSumInt,     // sum(int2/int4) -> int8
	kSumInt8,    // sum(int8) -> numeric
	kSumNumeric, // sum(numeric) -> numeric, display scale = max input scale
	kAvgInt,     // avg(int2/int4/int8) -> numeric_div(sum, count)
	kAvgNumeric, // avg(numeric) -> numeric_div(sum at max scale, count)
	kMin,        // min(x), x of a type whose "=" is identity and without collation
	kMax,
};

struct AlgebraicAgg {
	AggKind kind;
	std::string text;       // e.g. "sum(a)" (explain_st)
	std::string state_type; // SQL type of its state value column (numeric, or x's type)
};

struct AlgebraicPlan {
	std::size_t nkeys = 0;
	std::vector<std::string> key_types; // SQL types of the grouping keys
	std::vector<int> key_outputs;       // output column of each key
	std::vector<AlgebraicAgg> aggs;
	// Projections of the aggregation's input: columns __pgt_c1..__pgt_cM (keys), then per
	// aggregate its argument (TRUE for count(*)) and its FILTER (TRUE when none), then __pgt_w.
	std::string delta_projection; // over the input's delta ($1..$3: the frontier)
	std::string dirty_projection; // over the new input, restricted to the keys in CTE __pgt_dk
	std::string full_projection;  // over the whole new input
	// The stream table's rows from the new state in CTE __pgt_ns (its select list over the keys
	// and the aggregates' final values, HAVING as WHERE).
	std::string output_query;
	std::string signature; // layout and query: names the state table
};

} // namespace pgtrickle::ivm
