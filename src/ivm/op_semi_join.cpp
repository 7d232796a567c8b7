// semi / anti join: a query level whose WHERE has one conjunct EXISTS (S), NOT EXISTS (S) or
// x IN (S), correlated (EXISTS) by one equality S.y = x with a column x of the level and
// otherwise uncorrelated; the rest of the level is any select-project-join (X).
//
// Rule (affected-key recomputation, Z-sets): with X the level without that conjunct (outputting
// x and the columns its select list reads) and I = S's y values (S without the correlation),
//   X ⋉ I  = rows of X with a match in I,   X ▷ I = rows of X without one.
// Every output row depends only on one row of X and the rows of I with its key. With K = the keys
// of ΔX (x) and of ΔI (y),
//   Δ(X ⋉ I) = (X_new|K ⋉ I_new|K) − (X_old|K ⋉ I_old|K)     (the same for ▷)
// netted by identity, where |K keeps rows whose key is in K (the key type's "=", NULL matching
// NULL; a NULL x never matches). Exact: rows of X outside K are unchanged and so is their match.
// I is read as its keys with a positive summed weight (no consolidation by identity needed). x NOT
// IN (S) is the anti-join when neither x nor S's column can be NULL (each a column declared NOT
// NULL, a primary key's included, of a table of its level, neither level having an outer join or
// grouping sets): then x NOT IN (S) = NOT EXISTS (S where y = x) (with no NULL, "<> ALL" is false
// exactly when some y = x, and true over an empty S). Other NOT IN (whose NULLs make the result
// empty or NULL) and other sublinks are recomputed (op_recompute.cpp). The plan is built at every
// refresh, so a dropped NOT NULL takes effect at the next one.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

struct SemiShape {
	bool anti = false;
	Var *outer = nullptr;   // x, a column of the level
	Query *inner = nullptr; // S without the correlation, outputting y first
	List *other_quals = NIL;
};

bool Mergeable(Oid opno, Oid type) {
	return op_mergejoinable(opno, type) || op_hashjoinable(opno, type);
}

// EXISTS (S): finds and removes the conjunct S.y = x (x: a Var one level up). PG regime.
bool ExistsShape(SubLink *sl, SemiShape *shape) {
	Query *s = (Query *)copyObjectImpl(sl->subselect);
	if (s->setOperations != nullptr || s->hasAggs || s->groupClause != NIL ||
	    s->havingQual != nullptr || s->distinctClause != NIL || s->limitCount != nullptr ||
	    s->limitOffset != nullptr || s->hasWindowFuncs || s->hasTargetSRFs ||
	    s->jointree == nullptr) {
		return false;
	}
	List *conjuncts = make_ands_implicit((Expr *)s->jointree->quals);
	List *rest = NIL;
	Var *inner = nullptr;
	ListCell *lc;
	foreach (lc, conjuncts) {
		::Node *c = (::Node *)lfirst(lc);
		if (shape->outer == nullptr && IsA(c, OpExpr) && list_length(((OpExpr *)c)->args) == 2) {
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
				    va->varcollid == vb->varcollid && Mergeable(op->opno, va->vartype)) {
					inner = va;
					shape->outer = (Var *)copyObjectImpl(vb);
					shape->outer->varlevelsup = 0;
					continue;
				}
			}
		}
		rest = lappend(rest, c);
	}
	if (shape->outer == nullptr) {
		return false;
	}
	s->jointree->quals = (::Node *)make_ands_explicit(rest);
	if (contain_vars_of_level((::Node *)s, 1)) {
		return false; // correlated otherwise too
	}
	s->targetList =
	    list_make1(makeTargetEntry((Expr *)copyObjectImpl(inner), 1, pstrdup("__pgt_c1"), false));
	s->sortClause = NIL;
	s->hasSubLinks = checkExprHasSubLink((::Node *)s->jointree);
	shape->inner = s;
	return true;
}

// x IN (S): S uncorrelated with one output column of x's type. PG regime.
bool InShape(SubLink *sl, SemiShape *shape) {
	if (sl->testexpr == nullptr || !IsA(sl->testexpr, OpExpr)) {
		return false;
	}
	OpExpr *op = (OpExpr *)sl->testexpr;
	if (list_length(op->args) != 2 || !IsA(linitial(op->args), Var) ||
	    !IsA(lsecond(op->args), Param)) {
		return false;
	}
	Var *x = (Var *)linitial(op->args);
	Param *p = (Param *)lsecond(op->args);
	Query *s = (Query *)sl->subselect;
	if (x->varlevelsup != 0 || x->varattno <= 0 || p->paramtype != x->vartype ||
	    p->paramcollid != x->varcollid || !Mergeable(op->opno, x->vartype) ||
	    contain_vars_of_level((::Node *)s, 1)) {
		return false;
	}
	shape->outer = (Var *)copyObjectImpl(x);
	shape->inner = (Query *)copyObjectImpl(s);
	return true;
}

// Whether expr is a column declared NOT NULL of a table of level q (which has no outer join and
// no grouping sets, so the column is never NULL-extended). PG regime.
bool NotNullColumn(Query *q, ::Node *expr) {
	if (expr == nullptr || !IsA(expr, Var) || HasOuterJoin(q) || q->groupingSets != NIL ||
	    q->setOperations != nullptr) {
		return false;
	}
	Var *v = (Var *)expr;
	if (v->varlevelsup != 0 || v->varattno <= 0 || v->varno < 1 ||
	    v->varno > list_length(q->rtable)) {
		return false;
	}
	RangeTblEntry *rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind != RTE_RELATION ||
	    (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE)) {
		return false;
	}
	HeapTuple tup =
	    SearchSysCache2(ATTNUM, ObjectIdGetDatum(rte->relid), Int16GetDatum(v->varattno));
	if (!HeapTupleIsValid(tup)) {
		return false;
	}
	bool notnull = ((Form_pg_attribute)GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

// x NOT IN (S) as an anti-join: x and S's column both NOT NULL columns. PG regime.
bool NotInWithoutNulls(Query *q, SubLink *sl, const SemiShape &shape) {
	Query *s = (Query *)sl->subselect;
	TargetEntry *te = s->targetList == NIL ? nullptr : (TargetEntry *)linitial(s->targetList);
	return te != nullptr && !te->resjunk && NotNullColumn(q, (::Node *)shape.outer) &&
	       NotNullColumn(s, (::Node *)te->expr);
}

// The level's WHERE: one conjunct EXISTS / NOT EXISTS / IN, the others without sublinks.
bool FindShape(Query *q, SemiShape *shape) {
	if (q->jointree == nullptr || checkExprHasSubLink((::Node *)q->targetList)) {
		return false;
	}
	ListCell *lc;
	foreach (lc, q->jointree->fromlist) {
		if (checkExprHasSubLink((::Node *)lfirst(lc))) {
			return false; // in a JOIN's ON
		}
	}
	List *conjuncts = make_ands_implicit((Expr *)q->jointree->quals);
	bool found = false;
	foreach (lc, conjuncts) {
		::Node *c = (::Node *)lfirst(lc);
		if (!checkExprHasSubLink(c)) {
			shape->other_quals = lappend(shape->other_quals, c);
			continue;
		}
		if (found) {
			return false; // several sublinks: recomputed
		}
		bool anti = false;
		if (IsA(c, BoolExpr) && ((BoolExpr *)c)->boolop == NOT_EXPR) {
			anti = true;
			c = (::Node *)linitial(((BoolExpr *)c)->args);
		}
		if (!IsA(c, SubLink)) {
			return false;
		}
		SubLink *sl = (SubLink *)c;
		if (sl->subLinkType == EXISTS_SUBLINK) {
			found = ExistsShape(sl, shape);
		} else if (sl->subLinkType == ANY_SUBLINK) {
			// NOT IN: the anti-join only without NULLs on either side (otherwise recomputed).
			found = InShape(sl, shape) && (!anti || NotInWithoutNulls(q, sl, *shape));
		}
		if (!found) {
			return false;
		}
		shape->anti = anti;
	}
	return found;
}

class SemiJoin : public Op {
  public:
	SemiJoin(Query *q, const SemiShape &shape, Builder &b)
	    : Op(shape.anti ? "anti_join" : "semi_join"), anti_(shape.anti) {
		columns = OutputColumns(q);
		VarCollector vars{NIL};
		PgCall([&] { (void)CollectVars((::Node *)q->targetList, &vars); });
		Query *x = PgCall([&] {
			Query *out = (Query *)copyObjectImpl(q);
			out->jointree->quals = (::Node *)make_ands_explicit(shape.other_quals);
			out->hasSubLinks = false;
			out->sortClause = NIL;
			List *tl = list_make1(makeTargetEntry((Expr *)copyObjectImpl(shape.outer), 1,
			                                      pstrdup("__pgt_c1"), false));
			AttrNumber resno = 2;
			ListCell *lc;
			foreach (lc, vars.vars) {
				tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(lfirst(lc)), resno,
				                                 psprintf("__pgt_c%d", resno), false));
				resno++;
			}
			out->targetList = tl;
			return out;
		});
		children.push_back(b.Build(x));
		children.push_back(b.Build(shape.inner));
		for (const auto &c : children) {
			leaves.insert(leaves.end(), c->leaves.begin(), c->leaves.end());
		}
		key_ = Column{"", shape.outer->vartype, shape.outer->vartypmod, shape.outer->varcollid};
		op_ = EqualityOperator(key_.type);
		if (op_.empty()) {
			Reject("join keys of a type without equality");
		}
		template_ = SingleInputLevel(q, vars.vars, 1);
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Over(ParseOne(Filtered(mode, "")));
		}
		std::string k = KeyCte();
		std::string keys = "SELECT DISTINCT u.__pgt_c1 FROM (SELECT d.__pgt_c1 FROM " +
		                   From(*children[0], Mode::kDelta, "d") +
		                   " UNION ALL SELECT d.__pgt_c1 FROM " +
		                   From(*children[1], Mode::kDelta, "d") + ") AS u(__pgt_c1)";
		std::size_t n = columns.size();
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < n; i++) {
			cols.push_back("__pgt_c" + std::to_string(i + 1));
		}
		std::string new_sql = Over(ParseInCteScope(k, keys, Filtered(Mode::kNew, k)));
		std::string old_sql = Over(ParseInCteScope(k, keys, Filtered(Mode::kOld, k)));
		std::string rows = "SELECT " + Names(n, true, "p") + " FROM (" + new_sql + ") AS p(" +
		                   Names(n, true) + ") UNION ALL SELECT " + Prefix(Names(n, false, "o")) +
		                   "-o.__pgt_w FROM (" + old_sql + ") AS o(" + Names(n, true) + ")";
		return "WITH " + k + " AS MATERIALIZED (\n" + keys + "\n) " +
		       NetByIdentity(rows, cols, KindsOf(columns));
	}

  private:
	// The rows of X (plain) with (without) a match in I, restricted to the keys in k when given.
	std::string Filtered(Mode mode, const std::string &k) {
		Op &x = *children[0];
		Op &i = *children[1];
		// Only whether I has a row with the key matters: I's keys whose summed weight is positive
		// (a state's weights sum to its multiplicities, never negative), without consolidating I
		// by identity and expanding it row by row (Bag) first.
		std::size_t ni = i.columns.size();
		std::string from =
		    "SELECT k.__pgt_c1 FROM (" + i.Sql(mode) + ") AS k(" + Names(ni, true) + ")";
		std::string where;
		if (k.empty()) {
			std::string keys =
			    i.Unit(mode) ? from
			                 : from + " GROUP BY k.__pgt_c1 HAVING pg_catalog.sum(k.__pgt_w) > 0";
			std::string inner = "SELECT 1 FROM (" + keys + ") AS i(__pgt_c1) WHERE i.__pgt_c1 " +
			                    op_ + " f.__pgt_c1";
			where = std::string(anti_ ? "NOT " : "") + "EXISTS (" + inner + ")";
		} else {
			// Restricted to the affected keys, I's keys are few: one hashed lookup per row of X
			// (a hashed SubPlan: "IS TRUE" keeps PostgreSQL from turning it into a join, which it
			// would plan as a nested loop rescanning I's keys per row of X, whose size it cannot
			// estimate). No NULL key: a NULL x matches nothing (semi: not TRUE, anti: not TRUE).
			// (no OR with the NULL key, which would make PostgreSQL re-test every fetched row
			// against the whole key array)
			std::string only_k = " WHERE k.__pgt_c1 " + op_ + " ANY (ARRAY(SELECT " + k +
			                     ".__pgt_c1 FROM " + k + " WHERE " + k + ".__pgt_c1 IS NOT NULL))";
			std::string keys = i.Unit(mode) ? from + only_k
			                                : from + only_k +
			                                      " GROUP BY k.__pgt_c1 HAVING "
			                                      "pg_catalog.sum(k.__pgt_w) > 0";
			std::string match =
			    "(f.__pgt_c1 " + op_ + " ANY (" + keys + ")) IS " + (anti_ ? "NOT TRUE" : "TRUE");
			return RestrictToKeys("(" + Bag(x, mode) + ") AS f(" + Names(x.columns.size(), false) +
			                          ")",
			                      {"f.__pgt_c1"}, k, {key_}, match);
		}
		return "SELECT f.* FROM (" + Bag(x, mode) + ") AS f(" + Names(x.columns.size(), false) +
		       ") WHERE " + where;
	}

	std::string Over(Query *input) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		RangeTblEntry *rte = PgCall([&] { return (RangeTblEntry *)linitial(copy->rtable); });
		ReplaceRte(rte, input, children[0]->columns.size(), false);
		return Deparse(copy);
	}

	bool anti_;
	Column key_{};
	std::string op_;
	Query *template_;
};

std::unique_ptr<Op> LowerSemiJoin(Query *q, Builder &b) {
	if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
	    q->distinctClause != NIL || q->havingQual != nullptr || !q->hasSubLinks ||
	    HasOuterJoin(q)) {
		return nullptr;
	}
	SemiShape shape;
	if (!PgCall([&] { return FindShape(q, &shape); })) {
		return nullptr;
	}
	return std::make_unique<SemiJoin>(q, shape, b);
}

} // namespace

PGT_IVM_LOWERING(semi_join, 45, LowerSemiJoin);

} // namespace pgtrickle::ivm
