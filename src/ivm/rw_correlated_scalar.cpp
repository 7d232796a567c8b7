// Rewrite (decorrelation, applied to a query level before it is lowered): a correlated scalar
// aggregate subquery in a WHERE conjunct becomes an inner join with the subquery grouped by its
// correlation columns.
//
// Shape: a top-level conjunct C of the level's WHERE holds exactly one subquery of its level,
//   S(o) = (SELECT e FROM F WHERE y1 = o.x1 AND ... AND yk = o.xk AND R)
// an aggregate without GROUP BY (see OneRowAggregate), where each yi = o.xi is the default
// equality of yi's type (the one GROUP BY uses) between a column yi of S's level and a column xi
// of the outer level (same type and collation), and R and e reference no outer level. Further:
//   (a) e is NULL over an empty input: a chain of strict operators/functions down to a built-in
//       plain aggregate whose result over no rows is NULL (sum, avg, min, max, ...; not count), and
//   (b) C is strict in S: a chain of strict operators/functions (or NOT) from C down to S, so
//       that C is NULL, and the row is filtered out, when S is NULL.
// Rewrite: with G = (SELECT y1, ..., yk, e FROM F WHERE R GROUP BY y1, ..., yk),
//   σ_C[S(o)](X)  =  σ_{C[G.e] ∧ G.y1 = o.x1 ∧ ... ∧ G.yk = o.xk}(X × G)
// Equivalence, per row o of X: the rows of F ∧ R with y = o.x (all yi = o.xi) are exactly one
// group of G when there are any ("=" being an equivalence, the grouping one), and that group is
// the only row of G joining o, so o is kept once, with S(o) = G.e. When there are none (o.xi NULL
// included), S(o) = e over an empty input = NULL by (a), so C is NULL by (b) and o is dropped;
// no row of G joins o either. S has one row by construction (no "more than one row" error).
//
// G is then maintained by the aggregate operator (affected groups only) and X × G by the join
// operator. TPC-H Q2 (= (SELECT min ...)), Q17 (< (SELECT 0.2 * avg ...)) and Q20
// (> (SELECT 0.5 * sum ...), two correlation columns) are of this shape. Outside it (count, a
// conjunct not strict in S, a non-equality correlation, S in the select list) the subquery stays
// with the operator that evaluates it (op_recompute.cpp).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_aggregate.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_oper.h"
#include "rewrite/rewriteManip.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

// A built-in plain aggregate whose result over no rows is NULL: its initial state is NULL (sum,
// min, max, avg(numeric), bool_and, string_agg, array_agg, ...: their final functions return NULL
// for a NULL state), or it has a final function, which for the built-ins with an initial state
// turns the state of no rows into NULL (avg of integers and floats, variance, stddev, covar,
// corr, regr_* but regr_count). count and regr_count have an initial state (0) and no final
// function: excluded.
bool AggregateNullOnEmpty(Aggref *agg) {
	if (agg->agglevelsup != 0 || agg->aggkind != AGGKIND_NORMAL ||
	    agg->aggfnoid >= FirstNormalObjectId) {
		return false;
	}
	HeapTuple tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(agg->aggfnoid));
	if (!HeapTupleIsValid(tup)) {
		return false;
	}
	bool isnull = false;
	(void)SysCacheGetAttr(AGGFNOID, tup, Anum_pg_aggregate_agginitval, &isnull);
	bool finalfn = OidIsValid(((Form_pg_aggregate)GETSTRUCT(tup))->aggfinalfn);
	ReleaseSysCache(tup);
	return isnull || finalfn;
}

// The function of a strict operator or function node, or InvalidOid; its arguments in *args.
Oid StrictFunction(::Node *node, List **args) {
	if (IsA(node, OpExpr)) {
		OpExpr *op = (OpExpr *)node;
		set_opfuncid(op);
		*args = op->args;
		return func_strict(op->opfuncid) ? op->opfuncid : InvalidOid;
	}
	if (IsA(node, FuncExpr)) {
		FuncExpr *f = (FuncExpr *)node;
		*args = f->args;
		return func_strict(f->funcid) ? f->funcid : InvalidOid;
	}
	return InvalidOid;
}

// (a): e is NULL when its aggregates see no row.
bool NullOnEmpty(::Node *e) {
	if (IsA(e, Aggref)) {
		return AggregateNullOnEmpty((Aggref *)e);
	}
	if (IsA(e, RelabelType)) {
		return NullOnEmpty((::Node *)((RelabelType *)e)->arg);
	}
	List *args = NIL;
	if (!OidIsValid(StrictFunction(e, &args))) {
		return false;
	}
	ListCell *lc;
	foreach (lc, args) {
		if (NullOnEmpty((::Node *)lfirst(lc))) {
			return true; // a NULL argument of a strict function
		}
	}
	return false;
}

// (b): c is NULL when target is.
bool StrictIn(::Node *c, ::Node *target) {
	if (c == target) {
		return true;
	}
	if (IsA(c, RelabelType)) {
		return StrictIn((::Node *)((RelabelType *)c)->arg, target);
	}
	if (IsA(c, BoolExpr) && ((BoolExpr *)c)->boolop == NOT_EXPR) {
		return StrictIn((::Node *)linitial(((BoolExpr *)c)->args), target);
	}
	List *args = NIL;
	if (!OidIsValid(StrictFunction(c, &args))) {
		return false;
	}
	ListCell *lc;
	foreach (lc, args) {
		if (StrictIn((::Node *)lfirst(lc), target)) {
			return true;
		}
	}
	return false;
}

struct FindCtx {
	List *found; // SubLinks of the level
};

bool FindSubLinks(::Node *node, FindCtx *ctx) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, SubLink)) {
		ctx->found = lappend(ctx->found, node);
		return false;
	}
	if (IsA(node, Query)) {
		return false;
	}
	return expression_tree_walker(node, (bool (*)())FindSubLinks, ctx);
}

struct ReplaceCtx {
	SubLink *target;
	Var *by;
};

::Node *ReplaceSubLink(::Node *node, ReplaceCtx *ctx) {
	if (node == nullptr) {
		return nullptr;
	}
	if (node == (::Node *)ctx->target) {
		return (::Node *)copyObjectImpl(ctx->by);
	}
	if (IsA(node, Query)) {
		return node;
	}
	return expression_tree_mutator(node, (::Node * (*)()) ReplaceSubLink, ctx);
}

struct Correlation {
	OpExpr *op;
	Var *inner; // of S's level
	Var *outer; // of the rewritten level (varlevelsup 0)
};

// The grouped subquery for conjunct c and its sublink, or nullptr when the shape does not hold.
Query *Grouped(Query *s, std::vector<Correlation> *corr) {
	if (!OneRowAggregate(s)) {
		return nullptr;
	}
	Query *g = (Query *)copyObjectImpl(s);
	List *rest = NIL;
	ListCell *lc;
	foreach (lc, make_ands_implicit((Expr *)g->jointree->quals)) {
		::Node *c = (::Node *)lfirst(lc);
		if (IsA(c, OpExpr) && list_length(((OpExpr *)c)->args) == 2) {
			OpExpr *op = (OpExpr *)c;
			::Node *a = (::Node *)linitial(op->args);
			::Node *b = (::Node *)lsecond(op->args);
			if (IsA(a, Var) && IsA(b, Var)) {
				Var *va = (Var *)a;
				Var *vb = (Var *)b;
				if (va->varlevelsup == 1 && vb->varlevelsup == 0) {
					std::swap(va, vb);
				}
				if (va->varlevelsup == 0 && vb->varlevelsup == 1 && va->varattno > 0 &&
				    vb->varattno > 0 && va->vartype == vb->vartype &&
				    va->varcollid == vb->varcollid) {
					Oid sortop;
					Oid eqop;
					bool hashable;
					get_sort_group_operators(va->vartype, false, false, false, &sortop, &eqop, NULL,
					                         &hashable);
					if (OidIsValid(eqop) && eqop == op->opno) {
						Var *outer = (Var *)copyObjectImpl(vb);
						outer->varlevelsup = 0;
						corr->push_back(Correlation{op, va, outer});
						continue;
					}
				}
			}
		}
		rest = lappend(rest, c);
	}
	if (corr->empty()) {
		return nullptr;
	}
	g->jointree->quals = (::Node *)make_ands_explicit(rest);
	if (contain_vars_of_level((::Node *)g, 1) || contain_aggs_of_level((::Node *)g, 1)) {
		return nullptr; // correlated otherwise too
	}
	TargetEntry *value = (TargetEntry *)linitial(g->targetList);
	if (!NullOnEmpty((::Node *)value->expr)) {
		return nullptr;
	}
	List *tl = NIL;
	AttrNumber resno = 1;
	for (const Correlation &c : *corr) {
		TargetEntry *te = makeTargetEntry((Expr *)copyObjectImpl(c.inner), resno,
		                                  psprintf("__pgt_k%d", resno), false);
		te->ressortgroupref = (Index)resno;
		tl = lappend(tl, te);
		Oid sortop;
		Oid eqop;
		bool hashable;
		get_sort_group_operators(c.inner->vartype, false, true, false, &sortop, &eqop, NULL,
		                         &hashable);
		SortGroupClause *sgc = makeNode(SortGroupClause);
		sgc->tleSortGroupRef = (Index)resno;
		sgc->eqop = eqop;
		sgc->sortop = sortop;
		sgc->nulls_first = false;
		sgc->hashable = hashable;
		g->groupClause = lappend(g->groupClause, sgc);
		resno++;
	}
	tl = lappend(
	    tl, makeTargetEntry((Expr *)copyObjectImpl(value->expr), resno, pstrdup("__pgt_v"), false));
	g->targetList = tl;
	g->sortClause = NIL;
	g->hasSubLinks = LevelHasSubLinks(g);
	return g;
}

// Rewrites one conjunct when it has the shape; returns the conjuncts replacing it, or NIL.
List *RewriteConjunct(Query *q, ::Node *c) {
	FindCtx find{NIL};
	(void)FindSubLinks(c, &find);
	if (list_length(find.found) != 1) {
		return NIL;
	}
	SubLink *sl = (SubLink *)linitial(find.found);
	if (sl->subLinkType != EXPR_SUBLINK || !StrictIn(c, (::Node *)sl)) {
		return NIL;
	}
	std::vector<Correlation> corr;
	Query *g = Grouped((Query *)sl->subselect, &corr);
	if (g == nullptr) {
		return NIL;
	}
	Index rtindex = AddSubqueryRte(q, g, "__pgt_grouped");
	TargetEntry *value = (TargetEntry *)llast(g->targetList);
	Var *v = makeVar((int)rtindex, value->resno, exprType((::Node *)value->expr),
	                 exprTypmod((::Node *)value->expr), exprCollation((::Node *)value->expr), 0);
	ReplaceCtx replace{sl, v};
	List *out = list_make1(ReplaceSubLink(c, &replace));
	AttrNumber attno = 1;
	for (const Correlation &k : corr) {
		OpExpr *eq = (OpExpr *)copyObjectImpl(k.op);
		eq->args = list_make2(k.outer, makeVar((int)rtindex, attno, k.inner->vartype,
		                                       k.inner->vartypmod, k.inner->varcollid, 0));
		out = lappend(out, eq);
		attno++;
	}
	return out;
}

} // namespace

void JoinCorrelatedScalars(Query *q) {
	PgCall([&] {
		if (q->setOperations != nullptr || q->jointree == nullptr ||
		    q->jointree->quals == nullptr) {
			return;
		}
		List *conjuncts = make_ands_implicit((Expr *)q->jointree->quals);
		List *out = NIL;
		bool changed = false;
		ListCell *lc;
		foreach (lc, conjuncts) {
			::Node *c = (::Node *)lfirst(lc);
			List *rewritten = RewriteConjunct(q, c);
			if (rewritten == NIL) {
				out = lappend(out, c);
			} else {
				out = list_concat(out, rewritten);
				changed = true;
			}
		}
		if (changed) {
			q->jointree->quals = (::Node *)make_ands_explicit(out);
			q->hasSubLinks = LevelHasSubLinks(q);
		}
	});
}

} // namespace pgtrickle::ivm
