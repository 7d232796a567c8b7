// SQL building blocks shared by the operators: parsing and deparsing node trees, positional
// column names, netting by identity (consolidation), bags, affected-key filters.
#pragma once

#include "ivm/ir.hpp"

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "nodes/parsenodes.h"
}

namespace pgtrickle::ivm {

// Parses, analyzes and rewrites one SELECT ($1..$3: the frontier, text). C++ regime.
Query *ParseOne(const std::string &sql);
// Parses body in the scope of "WITH cte_name AS MATERIALIZED (cte_sql)" and returns body's tree
// (it references the CTE by name: deparsed, it prints "cte_name"; the caller puts the WITH around
// the text it finally produces). C++ regime.
Query *ParseInCteScope(const std::string &cte_name, const std::string &cte_sql,
                       const std::string &body);
// bridge::DeparseQuery (PostgreSQL's deparser, column references qualified). C++ regime.
std::string Deparse(Query *q);

// "__pgt_c1, ..., __pgt_cN" (plus ", __pgt_w" when weight), optionally prefixed "alias.".
std::string Names(std::size_t n, bool weight, const std::string &alias = "");
// "(sql) AS alias(__pgt_c1, ..., __pgt_cN, __pgt_w)".
std::string From(Op &node, Mode mode, const std::string &alias);
// A column list followed by more: "a, b, " ("" for none).
std::string Prefix(const std::string &list);

// How NetByIdentity tells the values of a column apart (its type's "=" is not always identity).
enum class ImageKind {
	kEquality, // "=" is binary identity: integers, bool, date/time, uuid, bytea, and text under
	           // a deterministic collation (compared with memcmp)
	kNumeric,  // "=" and the same display scale (1.0 = 1.00)
	kFloat4,   // "=" and the same bits (0 = -0)
	kFloat8,
	kBytewise, // text under a nondeterministic collation: "=" and the same bytes
	kOther,    // anything else (arrays, composites, json, citext, interval, ...)
};
ImageKind ImageKindOf(Oid type, Oid collation); // C++ regime
std::vector<ImageKind> KindsOf(const std::vector<Column> &columns);

// Sums the weights (column __pgt_w) of `rows` (columns cols..., __pgt_w) per binary-identical row
// and keeps the rows whose net weight is not 0 (see docs/architecture.md, "Identity").
std::string NetByIdentity(const std::string &rows, const std::vector<std::string> &cols,
                          const std::vector<ImageKind> &kinds);
// The node's rows in `mode` with their net weights (one row per binary-identical row).
std::string Consolidate(Op &node, Mode mode);
// The node's rows in `mode` as a plain multiset without weight column (__pgt_c1..): rows with
// positive net weight w, each w times.
std::string Bag(Op &node, Mode mode);

// The type's default equality as OPERATOR(schema.name), or "" when it has none. C++ regime.
std::string EqualityOperator(Oid type);

// Affected keys: a predicate on `alias`.__pgt_c1..__pgt_cM (M = key_types.size()) true for the
// rows whose key is in the CTE `k` (columns __pgt_c1..__pgt_cM; for M = 0, true when k has a row).
// By each type's "=" (how GROUP BY, DISTINCT and joins match), NULL matching NULL; per column (a
// superset of the key tuples, which is exact for recomputation). Arrays are matched by EXISTS
// (an ARRAY(SELECT array) would nest). C++ regime.
std::string KeyPredicate(const std::string &alias, const std::string &k,
                         const std::vector<Column> &key_types);

// The same on arbitrary row expressions (one per key column) instead of alias.__pgt_c1..M.
std::string KeyPredicateOn(const std::vector<std::string> &row_cols, const std::string &k,
                           const std::vector<Column> &key_types);

// "SELECT f.* FROM <from> WHERE <the row's keys are in k>" (from: "(...) AS f(...)", row_cols
// its key columns), as two branches: rows whose keys are all non-NULL, tested by "= ANY (array)"
// alone, which PostgreSQL uses as an index condition without re-checking each fetched row against
// the whole array (the linear test of every row, which an OR with the NULL case forces, took
// 14 s for 126,000 rows and 31,000 keys); and rows with a NULL key, a branch skipped unless k
// holds a NULL. Same rows as KeyPredicateOn. Only for keys whose "=" is identity (one branch
// otherwise: a group's shown value is its first row's, which the plan's order decides).
// `extra`: a further condition on the rows (in both branches). `single`: per key, whether it
// has one value in each evaluation (a one-row subquery's column), which makes the order safe too.
std::string RestrictToKeys(const std::string &from, const std::vector<std::string> &row_cols,
                           const std::string &k, const std::vector<Column> &key_types,
                           const std::string &extra = "", const std::vector<bool> &single = {});

// Replaces a FROM item by a subquery (parsed SQL) whose columns are __pgt_c1..N (and __pgt_w).
void ReplaceRte(RangeTblEntry *rte, Query *sub, std::size_t ncols, bool weight);

// Keeps the non-junk target entries, renamed __pgt_c1.., then (when weight is given) the weight,
// then the junk entries (GROUP BY expressions not selected), renumbered.
void ShapeTargets(Query *q, ::Node *weight, bool keep_junk);

// Output columns (non-junk target entries) of q.
std::vector<Column> OutputColumns(Query *q);

// An int8 constant.
::Node *Int8Const(int64 v);

// The distinct level-0 Vars (column references of the query level itself) of an expression tree,
// in order of appearance. PG regime walker state.
struct VarCollector {
	List *vars;
};
bool CollectVars(::Node *node, VarCollector *c); // PG regime
// Level-0 Vars renumbered to the columns of one FROM item (rtindex 1): vars[i] becomes column
// offset + i + 1. PG regime.
struct VarMapper {
	List *vars;
	int offset;
};
::Node *MapVars(::Node *node, VarMapper *m); // PG regime

// A query level reading one FROM item (rtindex 1, to be replaced with ReplaceRte) whose columns
// are offset placeholder columns then `vars`: q's select list, HAVING, GROUP BY and DISTINCT with
// their column references renumbered; its weight is 1 (ShapeTargets).
Query *SingleInputLevel(Query *q, List *vars, int offset);

} // namespace pgtrickle::ivm
