// lateral: one query level whose FROM holds, besides tables and subqueries (its inputs R1..Rk,
// inner-joined), row-local items: functions (unnest, generate_series, jsonb_array_elements,
// jsonb_each, regexp_matches, ... with or without LATERAL and ORDINALITY), VALUES lists, and
// LATERAL subqueries, inner or on the right of a LEFT JOIN, including top-K per row
// (LATERAL (SELECT ... ORDER BY ... LIMIT n)).
//
// Rule (Z-sets). A row-local item produces rows from the values of one combination of input rows
// (and, for a LATERAL subquery, the tables U it reads), so for fixed U the level Q is multilinear
// in R1..Rk: an output row's weight is the product of its inputs' weights (a LEFT JOIN of a
// row-local item keeps or pads each combination on its own). Hence
//   ΔQ = Σ_i Q(R1..Ri-1 new, ΔRi, Ri+1..Rk old; U new)                (as op_join.cpp)
//      + Q(R old; U new)|A − Q(R old; U old)|A                           (only when ΔU ≠ ∅)
// where U old replaces every table of the LATERAL subqueries by its consolidated old rows and A
// restricts to the input combinations whose subquery result can have changed. A is every
// combination, unless each LATERAL subquery that reads tables reads exactly one table U through
// a correlation "u.c = <expression of the outer row>" in its WHERE (the usual top-K-per-group
// form): its result for an outer row then depends only on the rows of U with c equal to the
// expression's value v, and A = the combinations whose v is among the values of c in ΔU.
// Cost: functions and VALUES cost nothing beyond evaluating them on the changed rows; a change
// of U re-evaluates the subquery for the affected outer rows twice (new and old), or for every
// outer row without a correlation key. LIMIT in a LATERAL subquery must have an ORDER BY that
// covers every selected column (rows tied in the ORDER BY are then identical, so the limited
// result is a function of the rows, not of the evaluation); functions must be IMMUTABLE.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

bool RowLocal(RangeTblEntry *rte) {
	return rte->rtekind == RTE_FUNCTION || rte->rtekind == RTE_VALUES ||
	       (rte->rtekind == RTE_SUBQUERY && rte->lateral);
}

struct Collected {
	List *rtes;    // base relation RTEs, walk order
	List *queries; // every query level
};

bool CollectWalker(::Node *node, Collected *c) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, RangeTblEntry)) {
		RangeTblEntry *rte = (RangeTblEntry *)node;
		if (rte->rtekind == RTE_RELATION && rte->relkind != RELKIND_VIEW) {
			c->rtes = lappend(c->rtes, rte);
		}
		return false;
	}
	if (IsA(node, Query)) {
		c->queries = lappend(c->queries, node);
		return query_tree_walker((Query *)node, (bool (*)())CollectWalker, c,
		                         QTW_EXAMINE_RTES_BEFORE);
	}
	return expression_tree_walker(node, (bool (*)())CollectWalker, c);
}

Collected Collect(Query *q) {
	Collected c{NIL, NIL};
	PgCall([&] { (void)CollectWalker((::Node *)q, &c); });
	return c;
}

// Every join of the tree is INNER, or LEFT with a row-local item on its right.
bool JoinsAreLinear(::Node *node, Query *q) {
	if (node == nullptr || IsA(node, RangeTblRef)) {
		return true;
	}
	if (IsA(node, FromExpr)) {
		ListCell *lc;
		foreach (lc, ((FromExpr *)node)->fromlist) {
			if (!JoinsAreLinear((::Node *)lfirst(lc), q)) {
				return false;
			}
		}
		return true;
	}
	if (IsA(node, JoinExpr)) {
		JoinExpr *j = (JoinExpr *)node;
		if (j->jointype == JOIN_LEFT) {
			if (!IsA(j->rarg, RangeTblRef) ||
			    !RowLocal(rt_fetch(((RangeTblRef *)j->rarg)->rtindex, q->rtable))) {
				return false;
			}
		} else if (j->jointype != JOIN_INNER) {
			return false;
		}
		return JoinsAreLinear(j->larg, q) && JoinsAreLinear(j->rarg, q);
	}
	return false;
}

// Vars of a subquery's outer level (varlevelsup 1 at its top): whether the expression reads only
// those (and constants), so it is a value of the outer row.
bool OnlyOuterVars(::Node *node, void *) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Var)) {
		return ((Var *)node)->varlevelsup != 1;
	}
	if (IsA(node, SubLink) || IsA(node, Aggref) || IsA(node, WindowFunc)) {
		return true;
	}
	return expression_tree_walker(node, (bool (*)())OnlyOuterVars, nullptr);
}

// The correlation key of a LATERAL subquery: one table, a conjunct "u.c = outer expression".
struct Correlation {
	int scan = -1;           // index among the subquery's scans (always 0: one table)
	AttrNumber column = 0;   // c
	::Node *outer = nullptr; // the outer expression, in the level's terms
	Oid type = InvalidOid;   // c's type
};

bool FindCorrelation(Query *sub, Correlation *out) {
	if (sub->setOperations != nullptr || sub->hasSubLinks || list_length(sub->rtable) != 1 ||
	    sub->jointree == nullptr || sub->cteList != NIL) {
		return false;
	}
	RangeTblEntry *rte = (RangeTblEntry *)linitial(sub->rtable);
	if (rte->rtekind != RTE_RELATION || rte->relkind == RELKIND_VIEW) {
		return false;
	}
	List *conjuncts = PgCall([&] { return make_ands_implicit((Expr *)sub->jointree->quals); });
	ListCell *lc;
	foreach (lc, conjuncts) {
		::Node *c = (::Node *)lfirst(lc);
		if (!IsA(c, OpExpr) || list_length(((OpExpr *)c)->args) != 2) {
			continue;
		}
		OpExpr *op = (OpExpr *)c;
		for (int side = 0; side < 2; side++) {
			::Node *a = (::Node *)list_nth(op->args, side);
			::Node *b = (::Node *)list_nth(op->args, 1 - side);
			while (IsA(a, RelabelType)) {
				a = (::Node *)((RelabelType *)a)->arg;
			}
			if (!IsA(a, Var) || ((Var *)a)->varlevelsup != 0 || ((Var *)a)->varattno <= 0) {
				continue;
			}
			Var *v = (Var *)a;
			bool ok = PgCall([&] {
				Oid eq = lookup_type_cache(v->vartype, TYPECACHE_EQ_OPR)->eq_opr;
				return eq == op->opno && exprType(b) == v->vartype && !OnlyOuterVars(b, nullptr) &&
				       !type_is_array(v->vartype);
			});
			if (!ok) {
				continue;
			}
			out->scan = 0;
			out->column = v->varattno;
			out->type = v->vartype;
			out->outer = PgCall([&] {
				::Node *e = (::Node *)copyObjectImpl(b);
				IncrementVarSublevelsUp(e, -1, 1);
				return e;
			});
			return true;
		}
	}
	return false;
}

class Lateral : public Op {
  public:
	Lateral(Query *q, Builder &b) : Op("lateral") {
		columns = OutputColumns(q);
		int rtindex = 0;
		ListCell *lc;
		foreach (lc, q->rtable) {
			rtindex++;
			RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
			if (rte->rtekind == RTE_JOIN || rte->rtekind == RTE_FUNCTION ||
			    rte->rtekind == RTE_VALUES) {
				continue;
			}
			if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_VIEW) {
				continue; // the rewriter's permission-check copy of an expanded view
			}
			if (rte->rtekind == RTE_SUBQUERY && rte->lateral) {
				laterals_.push_back(rtindex);
				continue;
			}
			children.push_back(b.BuildRte(rte));
			rtindexes_.push_back(rtindex);
		}
		inputs_ = children.size();
		for (const auto &c : children) {
			leaves.insert(leaves.end(), c->leaves.begin(), c->leaves.end());
		}
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		template_->sortClause = NIL;
		template_->cteList = NIL;
		// The LATERAL subqueries: checked as wholes, their tables as scans (for their old rows).
		bool all_keyed = true;
		for (int index : laterals_) {
			Query *sub = PgCall([&] { return rt_fetch(index, template_->rtable)->subquery; });
			CheckLimit(sub);
			::Node *count = sub->limitCount;
			::Node *offset = sub->limitOffset;
			sub->limitCount = nullptr;
			sub->limitOffset = nullptr;
			Collected c = Collect(sub);
			ListCell *l;
			foreach (l, c.queries) {
				CheckLevel((Query *)lfirst(l));
			}
			sub->limitCount = count;
			sub->limitOffset = offset;
			std::size_t first = children.size();
			foreach (l, c.rtes) {
				children.push_back(MakeScan((RangeTblEntry *)lfirst(l)));
				leaves.push_back(children.back()->leaves.front());
			}
			if (c.rtes == NIL) {
				continue;
			}
			Correlation corr;
			if (FindCorrelation(sub, &corr)) {
				corr.scan = static_cast<int>(first);
				keys_.push_back(corr);
			} else {
				all_keyed = false;
			}
		}
		if (!all_keyed) {
			keys_.clear();
		}
	}

	bool Unit(Mode mode) const override {
		for (std::size_t i = 0; i < inputs_; i++) {
			if (!children[i]->Unit(mode)) {
				return false;
			}
		}
		return mode != Mode::kDelta;
	}

	std::string Describe() const override {
		std::string out = "lateral[";
		out += children.size() == inputs_ ? "row-local items"
		       : keys_.empty()            ? "subquery: every outer row on change"
		                                  : "subquery: outer rows by correlation key";
		out += "](";
		for (std::size_t i = 0; i < children.size(); i++) {
			out += (i ? ", " : "") + children[i]->Describe();
		}
		return out + ")";
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Variant(std::vector<Mode>(inputs_, mode), mode, false);
		}
		std::string sum;
		for (std::size_t k = 0; k < inputs_; k++) {
			if (!children[k]->Changes()) {
				continue;
			}
			std::vector<Mode> modes;
			for (std::size_t i = 0; i < inputs_; i++) {
				modes.push_back(i < k ? Mode::kNew : i == k ? Mode::kDelta : Mode::kOld);
			}
			sum += (sum.empty() ? "" : "\nUNION ALL\n") + Variant(modes, Mode::kNew, false);
		}
		if (children.size() > inputs_) {
			// The subqueries' tables changed: the old inputs against new minus old subqueries.
			std::size_t n = columns.size();
			std::vector<Mode> old(inputs_, Mode::kOld);
			std::string changed;
			for (std::size_t i = inputs_; i < children.size(); i++) {
				changed += (changed.empty() ? "" : " OR ") + std::string("EXISTS (SELECT 1 FROM ") +
				           From(*children[i], Mode::kDelta, "l") + ")";
			}
			std::string width = Names(n, true) + KeyNames();
			sum += (sum.empty() ? "" : "\nUNION ALL\n") + std::string("SELECT ") +
			       Names(n, true, "p") + " FROM (" + Variant(old, Mode::kNew, true) + ") AS p(" +
			       width + ") WHERE (" + changed + ")" + KeyFilter("p") + "\nUNION ALL\nSELECT " +
			       Prefix(Names(n, false, "o")) + "-o.__pgt_w FROM (" +
			       Variant(old, Mode::kOld, true) + ") AS o(" + width + ") WHERE (" + changed +
			       ")" + KeyFilter("o");
		}
		if (sum.empty()) {
			return "SELECT * FROM (\n" + Sql(Mode::kNew) + "\n) AS __pgt_e WHERE false";
		}
		return sum;
	}

  private:
	// LIMIT/OFFSET in a LATERAL subquery: its ORDER BY must cover every selected column.
	static void CheckLimit(Query *sub) {
		if (sub->limitCount == nullptr && sub->limitOffset == nullptr) {
			return;
		}
		ListCell *lc;
		foreach (lc, sub->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (te->resjunk) {
				continue;
			}
			bool sorted = false;
			ListCell *s;
			foreach (s, sub->sortClause) {
				TargetEntry *st = PgCall([&] {
					return get_sortgroupclause_tle((SortGroupClause *)lfirst(s), sub->targetList);
				});
				sorted = sorted || st == te || PgCall([&] { return equal(st->expr, te->expr); });
			}
			if (!sorted) {
				Reject("LIMIT/OFFSET in a LATERAL subquery whose ORDER BY does not cover every "
				       "column it selects (rows that tie would make its result depend on the "
				       "evaluation)");
			}
		}
	}

	// Names of the key columns a restricted variant appends (", __pgt_k1, ...").
	std::string KeyNames() const {
		std::string out;
		for (std::size_t i = 0; i < keys_.size(); i++) {
			out += ", __pgt_k" + std::to_string(i + 1);
		}
		return out;
	}

	// " AND (alias.__pgt_k1 = ANY (changed keys of its table) OR ...)" ("" without keys).
	std::string KeyFilter(const std::string &alias) {
		if (keys_.empty()) {
			return "";
		}
		std::string out;
		for (std::size_t i = 0; i < keys_.size(); i++) {
			const Correlation &c = keys_[i];
			Op &scan = *children[static_cast<std::size_t>(c.scan)];
			std::string col = "d.__pgt_c" + std::to_string(c.column);
			out += (i ? " OR " : "") + alias + ".__pgt_k" + std::to_string(i + 1) + " " +
			       EqualityOperator(c.type) + " ANY (ARRAY(SELECT " + col + " FROM " +
			       From(scan, Mode::kDelta, "d") + " WHERE " + col + " IS NOT NULL))";
		}
		return " AND (" + out + ")";
	}

	// The level with input i in modes[i] and its LATERAL subqueries over their tables in `sub`,
	// weighted by the product of the inputs' weights; with `keys`, the correlation keys'
	// outer expressions as extra columns after the weight.
	std::string Variant(const std::vector<Mode> &modes, Mode sub, bool keys) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		::Node *weight = nullptr;
		for (std::size_t i = 0; i < inputs_; i++) {
			Op &child = *children[i];
			Query *parsed = ParseOne(child.Sql(modes[i]));
			int rtindex = rtindexes_[i];
			RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, copy->rtable); });
			ReplaceRte(rte, parsed, child.columns.size(), true);
			AttrNumber wattno = static_cast<AttrNumber>(child.columns.size() + 1);
			PgCall([&] {
				::Node *var = (::Node *)makeVar(rtindex, wattno, INT8OID, -1, InvalidOid, 0);
				weight = weight == nullptr
				             ? var
				             : (::Node *)makeFuncExpr(F_INT8MUL, INT8OID, list_make2(weight, var),
				                                      InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			});
		}
		if (sub == Mode::kOld) {
			std::size_t next = inputs_;
			for (int index : laterals_) {
				Query *subquery = PgCall([&] { return rt_fetch(index, copy->rtable)->subquery; });
				Collected c = Collect(subquery);
				ListCell *lc;
				foreach (lc, c.rtes) {
					Op &leaf = *children[next++];
					ReplaceRte((RangeTblEntry *)lfirst(lc), ParseOne(Bag(leaf, Mode::kOld)),
					           leaf.columns.size(), false);
				}
			}
		}
		if (weight == nullptr) {
			weight = Int8Const(1);
		}
		ShapeTargets(copy, weight, false);
		if (keys) {
			PgCall([&] {
				AttrNumber resno = static_cast<AttrNumber>(list_length(copy->targetList) + 1);
				for (std::size_t i = 0; i < keys_.size(); i++) {
					copy->targetList = lappend(
					    copy->targetList,
					    makeTargetEntry((Expr *)copyObjectImpl(keys_[i].outer), resno++,
					                    psprintf("__pgt_k%d", static_cast<int>(i + 1)), false));
				}
			});
		}
		return Deparse(copy);
	}

	std::size_t inputs_ = 0; // children[0..inputs_) are the level's inputs; then scans
	std::vector<int> rtindexes_;
	std::vector<int> laterals_; // range table indexes of the LATERAL subqueries
	std::vector<Correlation> keys_;
	Query *template_;
};

std::unique_ptr<Op> LowerLateral(Query *q, Builder &b) {
	if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
	    q->distinctClause != NIL || q->havingQual != nullptr || q->hasSubLinks ||
	    q->hasWindowFuncs) {
		return nullptr;
	}
	bool any = false;
	ListCell *lc;
	foreach (lc, q->rtable) {
		any = any || RowLocal((RangeTblEntry *)lfirst(lc));
	}
	if (!any || !PgCall([&] { return JoinsAreLinear((::Node *)q->jointree, q); })) {
		return nullptr; // other outer joins: recomputed whole (op_recompute.cpp)
	}
	return std::make_unique<Lateral>(q, b);
}

} // namespace

PGT_IVM_LOWERING(lateral, 38, LowerLateral);

} // namespace pgtrickle::ivm
