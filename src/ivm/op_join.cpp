// select-project-join: one query level made of inner joins of its FROM items (tables, subqueries,
// views), a WHERE filter and a select list, without aggregation. Described as "project(x)" over one
// input, "join(a, b, ...)" over several.
//
// Rules (Z-sets; weights multiply through joins, filters and projections keep them):
//   filter     Δσ(A) = σ(ΔA)
//   project    Δπ(A) = π(ΔA)                (no consolidation: duplicates keep their weights)
//   inner join Δ(A ⋈ B) = ΔA ⋈ B_new + A_old ⋈ ΔB
// and for k inputs L1..Lk of one level, of which only the set C changed in this refresh (the
// others have ΔLj = 0 and Old = New: Op::Changes), the telescoping sum of the binary rule, which
// holds for any order of the inputs:
//   Δ Q(L1..Lk) = Σ_{i ∈ C} Q(Lj := New for j before i, Li := ΔLi, Lj := Old for j after i)
// C is ordered costly inputs first (an aggregate, a recursion: computed once), then the cheap
// ones (scans, joins and unions of scans: CheapDelta). In a term whose ΔLi is cheap, every later
// input is cheap, and when there are at most kExpandedInputs cheap inputs their Old = New − Δ is
// expanded:
//   Q(.., ΔLi, Old_{j1}, .., Old_{jm}) = Σ_{T ⊆ {j1..jm}} (−1)^|T| Q(.., ΔLi, ΔLj for j ∈ T,
//                                                                New for the others)
// so that no such term reads an Old state (a table plus its negated changes, which PostgreSQL
// cannot probe through the table's indexes as one relation): each is a join of small deltas with
// tables as they are. With cheap inputs only this is Π New − Π (New − Δ) = Σ_{∅≠S⊆C} (−1)^(|S|+1)
// Q(ΔLi for i ∈ S, New otherwise), 2^|C| − 1 terms.
// New and Old are the level over its inputs' New (resp. Old) states. Each variant is a copy of the
// level's node tree in which each FROM item is replaced by its input's SQL and the level outputs
// the product of its inputs' weights (negated for a term with an even number of deltas);
// PostgreSQL's deparser prints it back.
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
			return Variant(std::vector<Mode>(children.size(), mode), false);
		}
		// Changed inputs whose delta is costly (an aggregate, a recursion, ...) first, then the
		// cheap ones (scans, and joins and unions of them): the telescoping sum holds for any
		// order of the inputs.
		std::vector<std::size_t> costly;
		std::vector<std::size_t> cheap;
		for (std::size_t k = 0; k < children.size(); k++) {
			if (children[k]->Changes()) {
				(CheapDelta(*children[k]) ? cheap : costly).push_back(k);
			}
		}
		std::vector<std::size_t> order = costly;
		order.insert(order.end(), cheap.begin(), cheap.end());
		std::string sum;
		auto add = [&](const std::string &term) {
			sum += (sum.empty() ? "" : "\nUNION ALL\n") + term;
		};
		for (std::size_t t = 0; t < order.size(); t++) {
			std::vector<Mode> modes(children.size(), Mode::kNew);
			modes[order[t]] = Mode::kDelta;
			bool expand = t >= costly.size() && cheap.size() <= kExpandedInputs;
			std::vector<std::size_t> later(order.begin() + static_cast<long>(t) + 1, order.end());
			if (!expand) {
				for (std::size_t j : later) {
					modes[j] = Mode::kOld;
				}
				add(Variant(modes, false));
				continue;
			}
			// The later inputs are all cheap: Old = New − Δ expanded, one term per subset of them
			// at their delta, signed by the number of deltas in it.
			for (unsigned subset = 0; subset < (1u << later.size()); subset++) {
				std::vector<Mode> term = modes;
				int size = 1;
				for (std::size_t i = 0; i < later.size(); i++) {
					if (subset & (1u << i)) {
						term[later[i]] = Mode::kDelta;
						size++;
					}
				}
				add(Variant(term, size % 2 == 0));
			}
		}
		return sum;
	}

  private:
	// Up to this many changed cheap inputs, their terms are expanded to read no Old state.
	static constexpr std::size_t kExpandedInputs = 4;

	// Whether op's delta is cheap to compute more than once: a scan's netted changes, or a join
	// or UNION ALL of such.
	static bool CheapDelta(const Op &op) {
		if (op.kind() != "scan" && op.kind() != "join" && op.kind() != "union_all") {
			return false;
		}
		for (const auto &child : op.children) {
			if (!CheapDelta(*child)) {
				return false;
			}
		}
		return true;
	}

	// The level with input i in modes[i], weighted by the product of the inputs' weights (negated
	// when `negate`).
	std::string Variant(const std::vector<Mode> &modes, bool negate) {
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
		if (negate) {
			PgCall([&] {
				weight = (::Node *)makeFuncExpr(F_INT8UM, INT8OID, list_make1(weight), InvalidOid,
				                                InvalidOid, COERCE_EXPLICIT_CALL);
			});
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
