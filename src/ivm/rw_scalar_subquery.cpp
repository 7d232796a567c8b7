// Rewrite (decorrelation, applied to a query level before it is lowered): an uncorrelated scalar
// subquery that is an aggregate without GROUP BY becomes a cross join with that one-row level.
//
// Equivalence: let S = (SELECT e FROM ... WHERE ...) aggregate without GROUP BY, HAVING, DISTINCT,
// LIMIT, set operation, window or set-returning function, that references no enclosing level. S
// returns exactly one row, also over an empty input (so neither PostgreSQL's "more than one row"
// error nor an empty, NULL-valued result can happen). For a level Q reading the FROM items X,
//   Q[(S)]  =  Q'   where Q' reads X × S and (S) is replaced by S's column,
// because the cross product with one row keeps every row of X exactly once (with its weight) and
// every row sees S's one value. This holds for S anywhere in WHERE and in the select list of a
// level without aggregation, and in WHERE of a grouped level. In the select list or HAVING of a
// level with GROUP BY, S's column is also added to the GROUP BY (as a junk target entry): it has
// one value for all rows, so the groups are the same. A level that aggregates without GROUP BY
// keeps S in its select list or HAVING (grouping would lose its row over an empty input), and so
// does a level with grouping sets or with DISTINCT over its GROUP BY. ON conditions are not
// rewritten.
//
// S is then maintained by the aggregate operator (op_aggregate.cpp) and X × S by the join
// operator (op_join.cpp): Δ(X × S) = ΔX × S_old + X_new × ΔS, so a change of S's value puts every
// row of the level in the delta (like a FULL refresh of the level), while changes that leave S's
// value alone cost only ΔX. Q11 (HAVING sum > (SELECT sum * f ...)), Q15 (= (SELECT max ...)) and
// Q22 (> (SELECT avg ...)) of TPC-H are of this shape.
//
// Difference: PostgreSQL evaluates an uncorrelated subquery (an InitPlan) only when an expression
// first needs it, the join always: an error raised by S itself (division by zero in e over an
// empty input, say) fails the refresh even when no row of X would have evaluated it.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"

extern "C" {
#include "postgres.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_oper.h"
#include "rewrite/rewriteManip.h"
}

namespace pgtrickle::ivm {

using bridge::PgCall;

bool OneRowAggregate(Query *s) {
	if (s == nullptr || !IsA(s, Query) || s->commandType != CMD_SELECT || !s->hasAggs ||
	    s->groupClause != NIL || s->groupingSets != NIL || s->havingQual != nullptr ||
	    s->distinctClause != NIL || s->limitCount != nullptr || s->limitOffset != nullptr ||
	    s->setOperations != nullptr || s->hasWindowFuncs || s->hasTargetSRFs || s->cteList != NIL ||
	    s->rowMarks != NIL || s->jointree == nullptr) {
		return false;
	}
	// Aggregates of an enclosing level inside s make it not an aggregate of its own.
	if (contain_aggs_of_level((::Node *)s, 1)) {
		return false;
	}
	int outputs = 0;
	ListCell *lc;
	foreach (lc, s->targetList) {
		TargetEntry *te = (TargetEntry *)lfirst(lc);
		if (!te->resjunk) {
			outputs++;
		}
	}
	TargetEntry *first = s->targetList == NIL ? nullptr : (TargetEntry *)linitial(s->targetList);
	return outputs == 1 && first != nullptr && !first->resjunk && first->resno == 1;
}

Index AddSubqueryRte(Query *q, Query *sub, const char *alias) {
	List *names = NIL;
	ListCell *lc;
	foreach (lc, sub->targetList) {
		TargetEntry *te = (TargetEntry *)lfirst(lc);
		if (!te->resjunk) {
			names = lappend(
			    names, makeString(pstrdup(te->resname != nullptr ? te->resname : "__pgt_col")));
		}
	}
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = sub;
	rte->alias = makeAlias(alias, NIL);
	rte->eref = makeAlias(alias, names);
	rte->inFromCl = true;
	q->rtable = lappend(q->rtable, rte);
	Index rtindex = (Index)list_length(q->rtable);
	RangeTblRef *ref = makeNode(RangeTblRef);
	ref->rtindex = (int)rtindex;
	q->jointree->fromlist = lappend(q->jointree->fromlist, ref);
	return rtindex;
}

namespace {

bool SubLinkWalker(::Node *node, void *) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, SubLink)) {
		return true;
	}
	if (IsA(node, Query)) {
		return false; // a FROM subquery's own sublinks
	}
	return expression_tree_walker(node, (bool (*)())SubLinkWalker, nullptr);
}

} // namespace

bool LevelHasSubLinks(Query *q) {
	return query_tree_walker(q, (bool (*)())SubLinkWalker, nullptr,
	                         QTW_IGNORE_RT_SUBQUERIES | QTW_IGNORE_CTE_SUBQUERIES);
}

namespace {

struct ScalarCtx {
	Query *q;
	bool group_by;   // the expression is read after grouping: add S's column to the GROUP BY
	List *group_new; // the columns to add to the GROUP BY (once the rewrite is done)
	bool changed;
};

// Adds v to the GROUP BY of q (a junk target entry); false when its type has no equality (nothing
// added).
bool AddGroupKey(Query *q, Var *v) {
	Oid sortop;
	Oid eqop;
	bool hashable;
	get_sort_group_operators(v->vartype, false, false, false, &sortop, &eqop, NULL, &hashable);
	if (!OidIsValid(eqop)) {
		return false;
	}
	Index next = 0;
	ListCell *lc;
	foreach (lc, q->targetList) {
		next = Max(next, ((TargetEntry *)lfirst(lc))->ressortgroupref);
	}
	TargetEntry *te =
	    makeTargetEntry((Expr *)copyObjectImpl(v), (AttrNumber)(list_length(q->targetList) + 1),
	                    pstrdup("__pgt_scalar"), true);
	te->ressortgroupref = next + 1;
	q->targetList = lappend(q->targetList, te);
	SortGroupClause *sgc = makeNode(SortGroupClause);
	sgc->tleSortGroupRef = te->ressortgroupref;
	sgc->eqop = eqop;
	sgc->sortop = sortop;
	sgc->nulls_first = false;
	sgc->hashable = hashable;
	q->groupClause = lappend(q->groupClause, sgc);
	return true;
}

::Node *ScalarMutator(::Node *node, ScalarCtx *ctx) {
	if (node == nullptr) {
		return nullptr;
	}
	if (IsA(node, Query)) {
		return node;
	}
	if (IsA(node, SubLink)) {
		SubLink *sl = (SubLink *)node;
		Query *s = (Query *)sl->subselect;
		if (sl->subLinkType != EXPR_SUBLINK || !OneRowAggregate(s) ||
		    contain_vars_of_level((::Node *)s, 1)) {
			return node; // left to the operators (its inner sublinks too)
		}
		TargetEntry *te = (TargetEntry *)linitial(s->targetList);
		Query *sub = (Query *)copyObjectImpl(s);
		sub->sortClause = NIL;
		Oid type = exprType((::Node *)te->expr);
		if (ctx->group_by) {
			Oid sortop;
			Oid eqop;
			bool hashable;
			get_sort_group_operators(type, false, false, false, &sortop, &eqop, NULL, &hashable);
			if (!OidIsValid(eqop)) {
				return node;
			}
		}
		Index rtindex = AddSubqueryRte(ctx->q, sub, "__pgt_scalar");
		Var *v = makeVar((int)rtindex, 1, type, exprTypmod((::Node *)te->expr),
		                 exprCollation((::Node *)te->expr), 0);
		if (ctx->group_by) {
			ctx->group_new = lappend(ctx->group_new, v);
		}
		ctx->changed = true;
		return (::Node *)v;
	}
	return expression_tree_mutator(node, (::Node * (*)()) ScalarMutator, ctx);
}

} // namespace

void JoinUncorrelatedScalars(Query *q) {
	PgCall([&] {
		if (q->setOperations != nullptr || q->jointree == nullptr) {
			return;
		}
		bool grouping = q->hasAggs || q->groupClause != NIL || q->groupingSets != NIL;
		ScalarCtx ctx{q, false, NIL, false};
		q->jointree->quals = ScalarMutator(q->jointree->quals, &ctx);
		// (A DISTINCT over the GROUP BY needs every key selected: S's column would not be.)
		if (!grouping ||
		    (q->groupClause != NIL && q->groupingSets == NIL && q->distinctClause == NIL)) {
			ctx.group_by = grouping;
			q->targetList = (List *)ScalarMutator((::Node *)q->targetList, &ctx);
			q->havingQual = ScalarMutator(q->havingQual, &ctx);
			ListCell *lc;
			foreach (lc, ctx.group_new) {
				(void)AddGroupKey(q, (Var *)lfirst(lc)); // the type's equality was checked
			}
		}
		if (ctx.changed) {
			q->hasSubLinks = LevelHasSubLinks(q);
		}
	});
}

} // namespace pgtrickle::ivm
