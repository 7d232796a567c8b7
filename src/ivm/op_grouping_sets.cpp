// grouping_sets: one query level with GROUP BY GROUPING SETS / ROLLUP / CUBE (mixed with plain
// GROUP BY columns, GROUP BY DISTINCT), GROUPING() and HAVING.
//
// Rule (Z-sets): a grouping-sets level is the disjoint union of one grouping per set g,
//   GS(X) = ⊎_g γ_g(X)
// where γ_g groups by the columns of g, evaluates every grouping column outside g (outside
// aggregates) as NULL and GROUPING(...) as the constant whose bits name the columns outside g
// (what PostgreSQL computes; an empty set is an aggregation without GROUP BY: one row even over an
// empty input). ⊎ is linear, so
//   ΔGS(X) = ⊎_g Δγ_g(X)
// and each γ_g is an aggregate operator (op_aggregate.cpp) with its own affected-key
// recomputation: Δγ_g = γ_g(X_new|K_g) − γ_g(X_old|K_g), K_g = the values of g's columns in ΔX.
// The sets are expanded by PostgreSQL (expand_grouping_sets), duplicates kept (GROUPING SETS
// ((a), (a)) returns each group twice).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/setops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_agg.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

struct SetContext {
	List *set;     // sortgrouprefs of the grouping set
	List *absent;  // grouping expressions outside the set
	List *targets; // the level's target list (to find GROUPING()'s columns)
};

::Node *ForSet(::Node *node, SetContext *c) {
	if (node == nullptr) {
		return nullptr;
	}
	if (IsA(node, GroupingFunc) && ((GroupingFunc *)node)->agglevelsup == 0) {
		GroupingFunc *g = (GroupingFunc *)node;
		int32 bits = 0;
		ListCell *lc;
		foreach (lc, g->refs) {
			bits = bits << 1;
			if (!list_member_int(c->set, (int)lfirst_int(lc))) {
				bits |= 1;
			}
		}
		return (::Node *)makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(bits), false, true);
	}
	if (IsA(node, Aggref)) {
		return node; // aggregates see the values
	}
	ListCell *lc;
	foreach (lc, c->absent) {
		if (equal(lfirst(lc), node)) {
			return (::Node *)makeNullConst(exprType(node), exprTypmod(node), exprCollation(node));
		}
	}
	return expression_tree_mutator(node, (::Node * (*)()) ForSet, c);
}

class GroupingSets : public Op {
  public:
	GroupingSets(Query *q, Builder &b) : Op("grouping_sets") {
		columns = OutputColumns(q);
		List *sets =
		    PgCall([&] { return expand_grouping_sets(q->groupingSets, q->groupDistinct, -1); });
		ListCell *lc;
		foreach (lc, sets) {
			List *set = (List *)lfirst(lc);
			Query *one = PgCall([&] {
				Query *copy = (Query *)copyObjectImpl(q);
				SetContext c{set, NIL, copy->targetList};
				List *group = NIL;
				ListCell *g;
				foreach (g, copy->groupClause) {
					SortGroupClause *sgc = (SortGroupClause *)lfirst(g);
					if (list_member_int(set, (int)sgc->tleSortGroupRef)) {
						group = lappend(group, sgc);
					} else {
						c.absent =
						    lappend(c.absent, get_sortgroupclause_expr(sgc, copy->targetList));
					}
				}
				// Rewrite the select list and HAVING for this set; the grouping expressions
				// themselves stay in the entries GROUP BY refers to.
				ListCell *t;
				foreach (t, copy->targetList) {
					TargetEntry *te = (TargetEntry *)lfirst(t);
					if (te->ressortgroupref != 0 &&
					    list_member_int(set, (int)te->ressortgroupref)) {
						continue;
					}
					te->expr = (Expr *)ForSet((::Node *)te->expr, &c);
				}
				copy->havingQual = ForSet(copy->havingQual, &c);
				copy->groupingSets = NIL;
				copy->groupDistinct = false;
				copy->groupClause = group;
				copy->sortClause = NIL;
				if (group == NIL && !copy->hasAggs && copy->havingQual == nullptr) {
					// An empty set without aggregates still is one group: one row.
					copy->havingQual = makeBoolConst(true, false);
				}
				return copy;
			});
			children.push_back(b.Build(one));
			leaves.insert(leaves.end(), children.back()->leaves.begin(),
			              children.back()->leaves.end());
		}
	}

	bool Unit(Mode mode) const override {
		for (const auto &c : children) {
			if (!c->Unit(mode)) {
				return false;
			}
		}
		return mode != Mode::kDelta;
	}

  protected:
	std::string Generate(Mode mode) override {
		std::string out;
		for (std::size_t i = 0; i < children.size(); i++) {
			std::string alias = "g" + std::to_string(i + 1);
			out += (i ? "\nUNION ALL\n" : "") + std::string("SELECT ") +
			       Prefix(CastColumns(*children[i], columns, alias)) + alias + ".__pgt_w FROM " +
			       From(*children[i], mode, alias);
		}
		return out;
	}
};

std::unique_ptr<Op> LowerGroupingSets(Query *q, Builder &b) {
	if (q->groupingSets == NIL || q->setOperations != nullptr) {
		return nullptr;
	}
	if (q->distinctClause != NIL) {
		Reject("DISTINCT over GROUPING SETS/ROLLUP/CUBE");
	}
	return std::make_unique<GroupingSets>(q, b);
}

} // namespace

PGT_IVM_LOWERING(grouping_sets, 25, LowerGroupingSets);

} // namespace pgtrickle::ivm
