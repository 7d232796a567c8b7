// select-project-join: one query level made of inner joins of its FROM items (tables, subqueries,
// views), a WHERE filter and a select list, without aggregation. Described as "project(x)" over one
// input, "join(a, b, ...)" over several.
//
// Rules (Z-sets; weights multiply through joins, filters and projections keep them):
//   filter     Δσ(A) = σ(ΔA)
//   project    Δπ(A) = π(ΔA)                (no consolidation: duplicates keep their weights)
//   inner join Δ(A ⋈ B) = ΔA ⋈ B_new + A_old ⋈ ΔB
// and for k inputs L1..Lk of one level (the telescoping sum of the binary rule):
//   Δ Q(L1..Lk) = Σ_i Q(L1..Li-1 := New, Li := ΔLi, Li+1..Lk := Old)
// New and Old are the level over its inputs' New (resp. Old) states. Each variant is a copy of the
// level's node tree in which each FROM item is replaced by its input's SQL and the level outputs
// the product of its inputs' weights; PostgreSQL's deparser prints it back.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

class Join : public Op {
  public:
	Join(Query *q, Builder &b) : Op("join") {
		columns = OutputColumns(q);
		int rtindex = 0;
		ListCell *lc;
		foreach (lc, q->rtable) {
			rtindex++;
			RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
			if (rte->rtekind == RTE_JOIN) {
				continue;
			}
			if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_VIEW) {
				continue; // the rewriter's permission-check copy of an expanded view: never scanned
			}
			children.push_back(b.BuildRte(rte));
			rtindexes_.push_back(rtindex);
			leaves.insert(leaves.end(), children.back()->leaves.begin(),
			              children.back()->leaves.end());
		}
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		template_->sortClause = NIL;
		template_->cteList = NIL;
	}

	bool Unit(Mode mode) const override {
		for (const auto &c : children) {
			if (!c->Unit(mode)) {
				return false;
			}
		}
		return mode != Mode::kDelta;
	}

	std::string Describe() const override {
		std::string out = children.size() == 1 ? "project(" : "join(";
		for (std::size_t i = 0; i < children.size(); i++) {
			out += (i ? ", " : "") + children[i]->Describe();
		}
		return out + ")";
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Variant(std::vector<Mode>(children.size(), mode));
		}
		std::string sum;
		for (std::size_t k = 0; k < children.size(); k++) {
			if (children[k]->leaves.empty()) {
				continue; // its delta is empty
			}
			std::vector<Mode> modes;
			for (std::size_t i = 0; i < children.size(); i++) {
				modes.push_back(i < k ? Mode::kNew : i == k ? Mode::kDelta : Mode::kOld);
			}
			sum += (sum.empty() ? "" : "\nUNION ALL\n") + Variant(modes);
		}
		return sum;
	}

  private:
	// The level with input i in modes[i], weighted by the product of the inputs' weights.
	std::string Variant(const std::vector<Mode> &modes) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		::Node *weight = nullptr;
		for (std::size_t i = 0; i < children.size(); i++) {
			Op &child = *children[i];
			Query *sub = ParseOne(child.Sql(modes[i]));
			int rtindex = rtindexes_[i];
			RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, copy->rtable); });
			ReplaceRte(rte, sub, child.columns.size(), true);
			AttrNumber wattno = static_cast<AttrNumber>(child.columns.size() + 1);
			PgCall([&] {
				::Node *var = (::Node *)makeVar(rtindex, wattno, INT8OID, -1, InvalidOid, 0);
				weight = weight == nullptr
				             ? var
				             : (::Node *)makeFuncExpr(F_INT8MUL, INT8OID, list_make2(weight, var),
				                                      InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			});
		}
		if (weight == nullptr) {
			weight = Int8Const(1);
		}
		ShapeTargets(copy, weight, false);
		return Deparse(copy);
	}

	Query *template_;
	std::vector<int> rtindexes_;
};

// Claims any level the lowerings before it left: no aggregation, no set operation, inner joins.
std::unique_ptr<Op> LowerJoin(Query *q, Builder &b) {
	if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
	    q->distinctClause != NIL || q->havingQual != nullptr || q->hasSubLinks || HasOuterJoin(q)) {
		return nullptr;
	}
	return std::make_unique<Join>(q, b);
}

} // namespace

PGT_IVM_LOWERING(join, 100, LowerJoin);

} // namespace pgtrickle::ivm
