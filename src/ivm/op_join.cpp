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
#include "utils/typcache.h"
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
		// The conjuncts are collected as a List in the PG regime, then copied here (no C++
		// allocation, which may throw, inside PgCall).
		List *equalities = PgCall([&] {
			List *found = NIL;
			CollectEqualities((::Node *)template_->jointree, &found);
			return found;
		});
		ListCell *eq;
		foreach (eq, equalities) {
			OpExpr *op = (OpExpr *)lfirst(eq);
			Var *left = (Var *)linitial(op->args);
			Var *right = (Var *)lsecond(op->args);
			equalities_.push_back({{static_cast<int>(left->varno), left->varattno},
			                       {static_cast<int>(right->varno), right->varattno}});
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
			Query *sub =
			    ParseOne(modes[i] == Mode::kNew && !CheapDelta(child) ? ReducedNew(i, modes)
			                                                          : child.Sql(modes[i]));
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

	// Semi-join reduction of a costly New input (an aggregate: PostgreSQL cannot probe a grouped
	// subquery per joined row, so it would aggregate its whole input) in a term with cheap deltas:
	// each of its columns that the level's WHERE equates (through a chain of conjuncts A.x = B.y
	// with the type's own "=", which is transitive) with a column of an input at its delta is
	// restricted to that delta's values. Exact: in an inner join a row of the input whose value
	// equals none of them joins no row of that delta, so it contributes nothing to this term (a
	// NULL equals nothing). The restriction is on output columns, which PostgreSQL pushes into a
	// grouping's WHERE when they are grouping keys, down to the source's index.
	std::string ReducedNew(std::size_t i, const std::vector<Mode> &modes) {
		Op &child = *children[i];
		std::string conds;
		for (std::size_t a = 1; a <= child.columns.size(); a++) {
			std::pair<int, int> self{rtindexes_[i], static_cast<int>(a)};
			for (std::size_t j = 0; j < children.size(); j++) {
				if (modes[j] != Mode::kDelta || !CheapDelta(*children[j])) {
					continue;
				}
				Op &d = *children[j];
				bool found = false;
				for (std::size_t b = 1; b <= d.columns.size() && !found; b++) {
					if (!Equated(self, {rtindexes_[j], static_cast<int>(b)})) {
						continue;
					}
					std::string op = EqualityOperator(child.columns[a - 1].type);
					if (op.empty()) {
						continue;
					}
					std::string col = "__pgt_c" + std::to_string(b);
					conds += std::string(conds.empty() ? "" : " AND ") + "__pgt_sr.__pgt_c" +
					         std::to_string(a) + " " + op + " ANY (ARRAY(SELECT __pgt_sd." + col +
					         " FROM " + From(d, Mode::kDelta, "__pgt_sd") + " WHERE __pgt_sd." +
					         col + " IS NOT NULL))";
					found = true;
				}
				if (found) {
					break;
				}
			}
		}
		if (conds.empty()) {
			return child.Sql(Mode::kNew);
		}
		return "SELECT * FROM " + From(child, Mode::kNew, "__pgt_sr") + " WHERE " + conds;
	}

	// Whether two columns (range table index, attribute) are equated by the conjuncts collected.
	bool Equated(std::pair<int, int> x, std::pair<int, int> y) const {
		std::vector<std::pair<int, int>> reach{x};
		for (std::size_t n = 0; n < reach.size(); n++) {
			if (reach[n] == y) {
				return true;
			}
			for (const auto &e : equalities_) {
				for (int side = 0; side < 2; side++) {
					const auto &from = side ? e.second : e.first;
					const auto &to = side ? e.first : e.second;
					if (from == reach[n] &&
					    std::find(reach.begin(), reach.end(), to) == reach.end()) {
						reach.push_back(to);
					}
				}
			}
		}
		return false;
	}

	// The conjuncts "A.x = B.y" of the WHERE and of inner JOIN ... ON, appended to *out (PG
	// regime): two columns of this level of the same type, compared with that type's default
	// equality.
	static void CollectEqualities(::Node *node, List **out) {
		if (node == nullptr) {
			return;
		}
		if (IsA(node, FromExpr)) {
			FromExpr *f = (FromExpr *)node;
			ListCell *lc;
			foreach (lc, f->fromlist) {
				CollectEqualities((::Node *)lfirst(lc), out);
			}
			CollectConjuncts(f->quals, out);
		} else if (IsA(node, JoinExpr)) {
			JoinExpr *j = (JoinExpr *)node;
			if (j->jointype == JOIN_INNER) {
				CollectEqualities(j->larg, out);
				CollectEqualities(j->rarg, out);
				CollectConjuncts(j->quals, out);
			}
		}
	}

	static void CollectConjuncts(::Node *quals, List **out) {
		if (quals == nullptr) {
			return;
		}
		if ((IsA(quals, BoolExpr) && ((BoolExpr *)quals)->boolop == AND_EXPR) || IsA(quals, List)) {
			List *items = IsA(quals, List) ? (List *)quals : ((BoolExpr *)quals)->args;
			ListCell *lc;
			foreach (lc, items) {
				CollectConjuncts((::Node *)lfirst(lc), out);
			}
			return;
		}
		if (!IsA(quals, OpExpr) || list_length(((OpExpr *)quals)->args) != 2) {
			return;
		}
		OpExpr *op = (OpExpr *)quals;
		::Node *l = (::Node *)linitial(op->args);
		::Node *r = (::Node *)lsecond(op->args);
		if (!IsA(l, Var) || !IsA(r, Var)) {
			return;
		}
		Var *a = (Var *)l;
		Var *b = (Var *)r;
		if (a->varlevelsup != 0 || b->varlevelsup != 0 || a->vartype != b->vartype ||
		    a->varattno <= 0 || b->varattno <= 0 ||
		    op->opno != lookup_type_cache(a->vartype, TYPECACHE_EQ_OPR)->eq_opr) {
			return;
		}
		*out = lappend(*out, op);
	}

	Query *template_;
	std::vector<int> rtindexes_;
	std::vector<std::pair<std::pair<int, int>, std::pair<int, int>>> equalities_;
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
