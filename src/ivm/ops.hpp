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

// Decorrelation: rewrites of one query level (its Query tree, in place) that Builder::Build
// applies before lowering it, so that subqueries in expressions become FROM items the join and
// aggregate operators maintain. Each rewrite's equivalence is stated in its file. C++ regime.
//   rw_scalar_subquery.cpp:   uncorrelated scalar aggregate subquery -> cross join (one row)
//   rw_correlated_scalar.cpp: correlated scalar aggregate subquery (equality correlation, in a
//                             WHERE conjunct strict in it) -> join with the grouped subquery
void JoinUncorrelatedScalars(Query *q);
void JoinCorrelatedScalars(Query *q);

// Shared by the rewrites (PG regime): whether s is an aggregate without GROUP BY that returns
// exactly one row (no HAVING, grouping sets, DISTINCT, LIMIT, set operation, window or
// set-returning function; one output column, the first target entry); appends a subquery FROM
// item (alias, one column name per non-junk target entry) to q's range table and FROM list and
// returns its range table index; whether q has a sublink of its own level (not inside its FROM
// subqueries).
bool OneRowAggregate(Query *s);
Index AddSubqueryRte(Query *q, Query *sub, const char *alias);
bool LevelHasSubLinks(Query *q);

} // namespace pgtrickle::ivm
