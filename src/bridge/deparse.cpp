// See deparse.hpp.
#include "bridge/deparse.hpp"

#include "bridge/guard.hpp"

#include <cctype>

extern "C" {
#include "postgres.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "utils/ruleutils.h"
}

namespace pgtrickle::bridge {

namespace {

// Grouping sets print their items by expression: with two GROUP BY entries over equal
// expressions (SELECT w.c AS a, w.c AS b … GROUP BY ROLLUP (1, 2)), the printed
// ROLLUP(w.c, w.c) binds both to the first entry when parsed again, and the subtotal rows
// change. The later entry's expression is wrapped in a one-argument COALESCE (the same value,
// type and collation, and a different expression), so each item prints as its own. PG regime.
void DistinguishGroupingItems(Query *q) {
	if (q->groupingSets == NIL) {
		return;
	}
	List *seen = NIL;
	ListCell *lc;
	foreach (lc, q->targetList) {
		TargetEntry *tle = (TargetEntry *)lfirst(lc);
		if (tle->ressortgroupref == 0) {
			continue;
		}
		for (;;) {
			bool duplicate = false;
			ListCell *lc2;
			foreach (lc2, seen) {
				if (equal(lfirst(lc2), tle->expr)) {
					duplicate = true;
					break;
				}
			}
			if (!duplicate) {
				break;
			}
			CoalesceExpr *c = makeNode(CoalesceExpr);
			c->coalescetype = exprType((::Node *)tle->expr);
			c->coalescecollid = exprCollation((::Node *)tle->expr);
			c->args = list_make1(tle->expr);
			c->location = -1;
			tle->expr = (Expr *)c;
		}
		seen = lappend(seen, tle->expr);
	}
}

bool DistinguishWalker(::Node *node, void *context) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Query)) {
		DistinguishGroupingItems((Query *)node);
		return query_tree_walker((Query *)node, (bool (*)())DistinguishWalker, context, 0);
	}
	return expression_tree_walker(node, (bool (*)())DistinguishWalker, context);
}

} // namespace

std::string DeparseQuery(const Query *q) {
	std::string sql = PgCall([&] {
		Query *copy = static_cast<Query *>(copyObjectImpl(q));
		(void)DistinguishWalker((::Node *)copy, nullptr);
		if (list_length(copy->rtable) == 1) {
			// ruleutils qualifies column references when the range table has more than one entry
			// (deparse_context.varprefix). An entry no part of the query refers to, and that is not
			// in the FROM list, changes nothing else in the printed text.
			RangeTblEntry *unused = makeNode(RangeTblEntry);
			unused->rtekind = RTE_RESULT;
			unused->eref = makeAlias("__pgt_unused", NIL);
			unused->inFromCl = false;
			copy->rtable = lappend(copy->rtable, unused);
		}
		return pg_get_querydef(copy, false);
	});
	std::size_t start = sql.find_first_not_of(" \n\t");
	sql = start == std::string::npos ? std::string() : sql.substr(start);
	while (!sql.empty() && (sql.back() == ';' || isspace(static_cast<unsigned char>(sql.back())))) {
		sql.pop_back();
	}
	return sql;
}

} // namespace pgtrickle::bridge
