// union all: A ⊎ B, anywhere in the tree (a set-operation tree made only of UNION ALL).
//
// Rule (Z-sets): ⊎ is linear, so  Δ(A ⊎ B) = ΔA ⊎ ΔB,  New = A_new ⊎ B_new,  Old = A_old ⊎ B_old.
// Each branch's columns are cast to the set operation's result types (PostgreSQL's analyzer leaves
// the branches in their own types and coerces when planning).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/setops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "nodes/parsenodes.h"
}

namespace pgtrickle::ivm {

namespace {

class UnionAll : public Op {
  public:
	UnionAll(std::vector<Column> cols, std::unique_ptr<Op> left, std::unique_ptr<Op> right)
	    : Op("union_all") {
		columns = std::move(cols);
		children.push_back(std::move(left));
		children.push_back(std::move(right));
		for (const auto &c : children) {
			leaves.insert(leaves.end(), c->leaves.begin(), c->leaves.end());
		}
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta && children[0]->Unit(mode) && children[1]->Unit(mode);
	}

  protected:
	std::string Generate(Mode mode) override {
		return "SELECT " + Prefix(CastColumns(*children[0], columns, "a")) + "a.__pgt_w FROM " +
		       From(*children[0], mode, "a") + "\nUNION ALL\nSELECT " +
		       Prefix(CastColumns(*children[1], columns, "b")) + "b.__pgt_w FROM " +
		       From(*children[1], mode, "b");
	}
};

std::unique_ptr<Op> MakeUnionAll(std::vector<Column> cols, std::unique_ptr<Op> left,
                                 std::unique_ptr<Op> right) {
	return std::make_unique<UnionAll>(std::move(cols), std::move(left), std::move(right));
}

} // namespace

static SetOpRegistrar union_all_registrar(SETOP_UNION, true, MakeUnionAll);

} // namespace pgtrickle::ivm
