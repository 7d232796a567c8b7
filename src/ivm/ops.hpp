// Factories and checks the operator files share (each operator's rule is in its own file).
#pragma once

#include "ivm/ir.hpp"

namespace pgtrickle::ivm {

// op_scan.cpp: a base table (or partitioned table, or stream table) as a leaf.
std::unique_ptr<Op> MakeScan(RangeTblEntry *rte);

// build.cpp: what no operator maintains at one query level (window functions, LIMIT, DISTINCT ON,
// grouping sets, set-returning functions in the select list, FROM items other than tables,
// views, subqueries and joins). Rejects.
void CheckLevel(Query *q);

// Whether the join tree has a join other than INNER (LEFT/RIGHT/FULL).
bool HasOuterJoin(Query *q);

} // namespace pgtrickle::ivm
