// recompute: a query level maintained by whole-operator recomputation. Used for what no cheaper
// rule covers yet: subqueries in expressions (EXISTS, NOT EXISTS, IN, NOT IN with SQL's NULL
// semantics, scalar subqueries, correlated or not, in WHERE, the select list or HAVING) and
// outer joins (LEFT/RIGHT/FULL, chains of them, mixed with inner joins).
//
// Rule (Z-sets): with Q the level (every table it reads, at any depth, sublinks included),
//   Δ Q = Q(New) − Q(Old)   when some table it reads has changes, else ∅
// netted by identity. Q(New) is the level as written; Q(Old) is the level with every table
// replaced by its old rows (consolidated: the table + (−Δ), each row with positive net weight as
// many times). Cost: the level is evaluated twice over its whole input whenever one of its
// tables changed (about twice a FULL refresh of the level), plus netting its output; the levels
// above it stay incremental. Exact for any deterministic level: every function is IMMUTABLE and
// the level's result does not depend on row order.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "nodes/nodeFuncs.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

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

class Recompute : public Op {
  public:
	explicit Recompute(Query *q) : Op("recompute") {
		columns = OutputColumns(q);
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		template_->sortClause = NIL;
		ShapeTargets(template_, Int8Const(1), true);
		Collected c = Collect(template_);
		ListCell *lc;
		foreach (lc, c.queries) {
			CheckLevel((Query *)lfirst(lc));
		}
		foreach (lc, c.rtes) {
			children.push_back(MakeScan((RangeTblEntry *)lfirst(lc)));
			leaves.push_back(children.back()->leaves.front());
		}
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode == Mode::kNew) {
			return Deparse(template_);
		}
		if (mode == Mode::kOld) {
			Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
			Collected c = Collect(copy);
			std::size_t i = 0;
			ListCell *lc;
			foreach (lc, c.rtes) {
				Op &leaf = *children[i++];
				ReplaceRte((RangeTblEntry *)lfirst(lc), ParseOne(Bag(leaf, Mode::kOld)),
				           leaf.columns.size(), false);
			}
			return Deparse(copy);
		}
		// Only when a table it reads changed (a one-time filter: nothing is evaluated otherwise).
		std::string changed;
		for (std::size_t i = 0; i < children.size(); i++) {
			changed += (i ? " OR " : "") + std::string("EXISTS (SELECT 1 FROM ") +
			           From(*children[i], Mode::kDelta, "l") + ")";
		}
		std::size_t n = columns.size();
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < n; i++) {
			cols.push_back("__pgt_c" + std::to_string(i + 1));
		}
		std::string rows = "SELECT " + Names(n, true, "p") + " FROM " +
		                   From(*this, Mode::kNew, "p") + " WHERE " + changed +
		                   "\nUNION ALL\nSELECT " + Prefix(Names(n, false, "o")) +
		                   "-o.__pgt_w FROM " + From(*this, Mode::kOld, "o") + " WHERE " + changed;
		return NetByIdentity(rows, cols, KindsOf(columns));
	}

  private:
	Query *template_;
};

std::unique_ptr<Op> LowerRecompute(Query *q, Builder &) {
	if (q->setOperations != nullptr || !(q->hasSubLinks || HasOuterJoin(q))) {
		return nullptr;
	}
	return std::make_unique<Recompute>(q);
}

} // namespace

PGT_IVM_LOWERING(recompute, 50, LowerRecompute);

} // namespace pgtrickle::ivm
