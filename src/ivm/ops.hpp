// Factories and checks the operator files share (each operator's rule is in its own file).
#pragma once

#include "ivm/ir.hpp"

namespace pgtrickle::ivm {

// op_scan.cpp: a base table (or partitioned table, or stream table) as a leaf.
std::unique_ptr<Op> MakeScan(RangeTblEntry *rte);

// build.cpp: what no operator maintains at one query level (LIMIT, DISTINCT ON, set-returning
// functions in the select list, FROM items other than tables, views, subqueries, joins and
// functions). Rejects. `whole`: the level is evaluated as a whole by its consumer (recompute,
// a LATERAL subquery), not lowered: window functions must then not depend on the order of tied
// rows.
void CheckLevel(Query *q, bool whole = true);

// op_window.cpp: whether a level has window functions whose value depends on the order of rows
// that tie in their ORDER BY; and the check of where such a level may be (after building).
bool OrderSensitiveWindows(Query *q);
void CheckOrderSensitiveWindows(Op &root);

// op_recursive.cpp: a reference to a recursive CTE becomes a subquery "WITH RECURSIVE ... SELECT *
// FROM r" (a wrapper, lowered by the recursive operator; PG regime).
void WrapRecursiveCte(RangeTblEntry *rte, List *ctes, CommonTableExpr *cte);
bool IsRecursiveWrapper(Query *q);

// Whether the join tree has a join other than INNER (LEFT/RIGHT/FULL).
bool HasOuterJoin(Query *q);

} // namespace pgtrickle::ivm
