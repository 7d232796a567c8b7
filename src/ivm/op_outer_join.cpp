// outer join: A ⟕ B, A ⟖ B, A ⟗ B of two FROM items on an equality of one column of each
// (A.x = B.y, more ON conditions allowed), with a WHERE filter and a select list above it.
//
// Rule (affected-key recomputation, Z-sets): an outer join is the inner join plus the padded
// anti-joins, A ⟕ B = (A ⋈ B) ⊎ ((A ▷ B) × NULL), and every output row comes from rows of A and B
// with one join key value (x for a row of A, y for a padded row of B, x = y for a pair). With
// K = the keys of ΔA (x) and of ΔB (y),
//   Δ(A ⟕ B) = (A_new|K ⟕ B_new|K) − (A_old|K ⟕ B_old|K)
// netted by identity, where A|K keeps the rows whose key is in K (by the key type's "=", NULL
// matching NULL). Exact: the output rows of a key outside K read only rows of A and B with that
// key, none of which changed. Both sides changing in the same refresh, a NULL-producing side
// gaining or losing its last match, and join-key updates (a delete under the old key, an insert
// under the new one: both keys are in K) are covered. The inputs are consolidated (Bag) first:
// padding is not linear. Chains of outer joins and outer joins mixed with other joins at one
// level are recomputed (op_recompute.cpp).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

// The equi-join condition found in the ON clause: left and right columns (attribute numbers of
// the two FROM items) and the key's type.
struct EquiKey {
	int left_attno = 0;
	int right_attno = 0;
	Column type{};
};

bool FindEquiKey(::Node *quals, int left, int right, EquiKey *key) {
	if (quals == nullptr) {
		return false;
	}
	if (IsA(quals, BoolExpr) && ((BoolExpr *)quals)->boolop == AND_EXPR) {
		ListCell *lc;
		foreach (lc, ((BoolExpr *)quals)->args) {
			if (FindEquiKey((::Node *)lfirst(lc), left, right, key)) {
				return true;
			}
		}
		return false;
	}
	if (!IsA(quals, OpExpr) || list_length(((OpExpr *)quals)->args) != 2) {
		return false;
	}
	OpExpr *op = (OpExpr *)quals;
	::Node *a = (::Node *)linitial(op->args);
	::Node *b = (::Node *)lsecond(op->args);
	if (!IsA(a, Var) || !IsA(b, Var)) {
		return false;
	}
	Var *va = (Var *)a;
	Var *vb = (Var *)b;
	if (va->varlevelsup != 0 || vb->varlevelsup != 0 || va->varattno <= 0 || vb->varattno <= 0 ||
	    va->vartype != vb->vartype || va->varcollid != vb->varcollid) {
		return false;
	}
	if (static_cast<int>(vb->varno) == left && static_cast<int>(va->varno) == right) {
		std::swap(va, vb);
	}
	if (static_cast<int>(va->varno) != left || static_cast<int>(vb->varno) != right) {
		return false;
	}
	// An equality the planner could merge or hash join on: the type's "=" (or one agreeing
	// with it), whose keys can be looked up with the type's "= ANY".
	if (!op_mergejoinable(op->opno, va->vartype) && !op_hashjoinable(op->opno, va->vartype)) {
		return false;
	}
	key->left_attno = va->varattno;
	key->right_attno = vb->varattno;
	key->type = Column{"", va->vartype, va->vartypmod, va->varcollid};
	return true;
}

class OuterJoin : public Op {
  public:
	OuterJoin(Query *q, JoinExpr *j, const EquiKey &key, Builder &b)
	    : Op(j->jointype == JOIN_LEFT    ? "left_join"
	         : j->jointype == JOIN_RIGHT ? "right_join"
	                                     : "full_join"),
	      key_(key) {
		columns = OutputColumns(q);
		rtindexes_[0] = ((RangeTblRef *)j->larg)->rtindex;
		rtindexes_[1] = ((RangeTblRef *)j->rarg)->rtindex;
		for (int side = 0; side < 2; side++) {
			int rtindex = rtindexes_[side];
			RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, q->rtable); });
			children.push_back(b.BuildRte(rte));
			leaves.insert(leaves.end(), children.back()->leaves.begin(),
			              children.back()->leaves.end());
		}
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		template_->sortClause = NIL;
		ShapeTargets(template_, Int8Const(1), false);
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Level(ParseOne(Bag(*children[0], mode)), ParseOne(Bag(*children[1], mode)));
		}
		std::string k = KeyCte();
		std::string keys = "SELECT DISTINCT x.__pgt_c1 FROM (SELECT d.__pgt_c" +
		                   std::to_string(key_.left_attno) + " FROM " +
		                   From(*children[0], Mode::kDelta, "d") + " UNION ALL SELECT d.__pgt_c" +
		                   std::to_string(key_.right_attno) + " FROM " +
		                   From(*children[1], Mode::kDelta, "d") + ") AS x(__pgt_c1)";
		auto restricted = [&](int side, Mode m) {
			Op &child = *children[static_cast<std::size_t>(side)];
			int attno = side == 0 ? key_.left_attno : key_.right_attno;
			std::string body = RestrictToKeys(
			    "(" + Bag(child, m) + ") AS f(" + Names(child.columns.size(), false) + ")",
			    {"f.__pgt_c" + std::to_string(attno)}, k, {key_.type});
			return ParseInCteScope(k, keys, body);
		};
		std::size_t n = columns.size();
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < n; i++) {
			cols.push_back("__pgt_c" + std::to_string(i + 1));
		}
		std::string new_sql = Level(restricted(0, Mode::kNew), restricted(1, Mode::kNew));
		std::string old_sql = Level(restricted(0, Mode::kOld), restricted(1, Mode::kOld));
		std::string rows = "SELECT " + Names(n, true, "p") + " FROM (" + new_sql + ") AS p(" +
		                   Names(n, true) + ") UNION ALL SELECT " + Prefix(Names(n, false, "o")) +
		                   "-o.__pgt_w FROM (" + old_sql + ") AS o(" + Names(n, true) + ")";
		return "WITH " + k + " AS MATERIALIZED (\n" + keys + "\n) " +
		       NetByIdentity(rows, cols, KindsOf(columns));
	}

  private:
	// The level over the two inputs (plain rows), weight 1 per row.
	std::string Level(Query *left, Query *right) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		Query *inputs[2] = {left, right};
		for (int side = 0; side < 2; side++) {
			int rtindex = rtindexes_[side];
			RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, copy->rtable); });
			ReplaceRte(rte, inputs[side], children[static_cast<std::size_t>(side)]->columns.size(),
			           false);
		}
		return Deparse(copy);
	}

	EquiKey key_;
	int rtindexes_[2] = {0, 0};
	Query *template_;
};

std::unique_ptr<Op> LowerOuterJoin(Query *q, Builder &b) {
	if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
	    q->distinctClause != NIL || q->havingQual != nullptr || q->hasSubLinks ||
	    q->jointree == nullptr || list_length(q->jointree->fromlist) != 1) {
		return nullptr;
	}
	::Node *item = (::Node *)linitial(q->jointree->fromlist);
	if (!IsA(item, JoinExpr)) {
		return nullptr;
	}
	JoinExpr *j = (JoinExpr *)item;
	if ((j->jointype != JOIN_LEFT && j->jointype != JOIN_RIGHT && j->jointype != JOIN_FULL) ||
	    !IsA(j->larg, RangeTblRef) || !IsA(j->rarg, RangeTblRef)) {
		return nullptr;
	}
	EquiKey key;
	int left = ((RangeTblRef *)j->larg)->rtindex;
	int right = ((RangeTblRef *)j->rarg)->rtindex;
	if (!PgCall([&] { return FindEquiKey(j->quals, left, right, &key); })) {
		return nullptr; // no equi-join key: recomputed whole
	}
	return std::make_unique<OuterJoin>(q, j, key, b);
}

} // namespace

PGT_IVM_LOWERING(outer_join, 40, LowerOuterJoin);

} // namespace pgtrickle::ivm
