// Set operations: the lowering of a set-operation tree (UNION / INTERSECT / EXCEPT [ALL]) into
// binary operators, one registered factory per kind (op_union_all.cpp, op_set_op.cpp).
#pragma once

#include "ivm/ir.hpp"

#include <string>
#include <vector>

namespace pgtrickle::ivm {

using SetOpFactory = std::unique_ptr<Op> (*)(std::vector<Column> cols, std::unique_ptr<Op> left,
                                             std::unique_ptr<Op> right);

// Registers the factory of one set operation kind (load time; no PostgreSQL calls).
class SetOpRegistrar {
  public:
	SetOpRegistrar(SetOperation op, bool all, SetOpFactory factory);
};

// The columns of `child` (alias.__pgt_c1..) cast to `to` where their type, typmod or collation
// differ: "a.__pgt_c1, (a.__pgt_c2)::numeric, ...".
std::string CastColumns(Op &child, const std::vector<Column> &to, const std::string &alias);

} // namespace pgtrickle::ivm
