// Lowering of set-operation trees (see setops.hpp).
#include "ivm/setops.hpp"

#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

#include <map>

extern "C" {
#include "postgres.h"
#include "nodes/pg_list.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
}

namespace pgtrickle::ivm {

using bridge::PgCall;

namespace {

std::map<std::pair<int, bool>, SetOpFactory> &Factories() {
	static std::map<std::pair<int, bool>, SetOpFactory> factories;
	return factories;
}

std::unique_ptr<Op> BuildSetTree(::Node *n, Query *top, const std::vector<Column> &names,
                                 Builder &b) {
	if (IsA(n, RangeTblRef)) {
		int rtindex = ((RangeTblRef *)n)->rtindex;
		RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, top->rtable); });
		return b.BuildRte(rte);
	}
	auto *op = (SetOperationStmt *)n;
	std::vector<Column> cols;
	PgCall([&] {
		ListCell *t;
		ListCell *m;
		ListCell *c;
		forthree(t, op->colTypes, m, op->colTypmods, c, op->colCollations) {
			cols.push_back(Column{"", lfirst_oid(t), lfirst_int(m), lfirst_oid(c)});
		}
	});
	for (std::size_t i = 0; i < cols.size() && i < names.size(); i++) {
		cols[i].name = names[i].name;
	}
	auto found = Factories().find({static_cast<int>(op->op), op->all});
	if (found == Factories().end()) {
		Reject("this set operation");
	}
	auto left = BuildSetTree(op->larg, top, names, b);
	auto right = BuildSetTree(op->rarg, top, names, b);
	return found->second(std::move(cols), std::move(left), std::move(right));
}

std::unique_ptr<Op> LowerSetOperation(Query *q, Builder &b) {
	if (q->setOperations == nullptr) {
		return nullptr;
	}
	return BuildSetTree(q->setOperations, q, OutputColumns(q), b);
}

} // namespace

SetOpRegistrar::SetOpRegistrar(SetOperation op, bool all, SetOpFactory factory) {
	Factories()[{static_cast<int>(op), all}] = factory;
}

std::string CastColumns(Op &child, const std::vector<Column> &to, const std::string &alias) {
	std::string out;
	for (std::size_t i = 0; i < to.size(); i++) {
		std::string col = alias + ".__pgt_c" + std::to_string(i + 1);
		const Column &from = child.columns[i];
		if (from.type != to[i].type || from.typmod != to[i].typmod) {
			Oid type = to[i].type;
			int32 typmod = to[i].typmod;
			col = "(" + col + ")::" + PgCall([&] {
				      return format_type_extended(
				          type, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
			      });
		}
		if (OidIsValid(to[i].collation) && to[i].collation != from.collation) {
			Oid coll = to[i].collation;
			col = "(" + col + " COLLATE " +
			      std::string(PgCall([&] { return generate_collation_name(coll); })) + ")";
		}
		out += (i ? ", " : "") + col;
	}
	return out;
}

PGT_IVM_LOWERING(set_operation, 10, LowerSetOperation);

} // namespace pgtrickle::ivm
