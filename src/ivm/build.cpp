// Building the operator tree from the analyzed query: the lowering registry, CTE inlining, and
// the checks of what no operator maintains.
#include "analyze/function_check.hpp"
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

#include <algorithm>

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
}

namespace pgtrickle::ivm {

using bridge::PgCall;

namespace {

std::vector<LoweringRegistration> &Registry() {
	static std::vector<LoweringRegistration> registry;
	return registry;
}

} // namespace

LoweringRegistrar::LoweringRegistrar(const char *name, int priority, Lowering lower) {
	auto &r = Registry();
	r.push_back(LoweringRegistration{name, priority, lower});
	std::stable_sort(r.begin(), r.end(),
	                 [](const LoweringRegistration &a, const LoweringRegistration &b) {
		                 return a.priority < b.priority;
	                 });
}

Op::Op(std::string kind) : kind_(std::move(kind)) {
	static int next_id = 0;
	id_ = ++next_id;
}

const std::string &Op::Sql(Mode mode) {
	int i = static_cast<int>(mode);
	if (!cached_[i]) {
		if (mode == Mode::kDelta && !Changes()) {
			// Nothing below changes: an empty delta of the right shape.
			cache_[i] = "SELECT * FROM (\n" + Sql(Mode::kNew) + "\n) AS __pgt_e WHERE false";
		} else if (mode == Mode::kOld && !Changes()) {
			cache_[i] = Sql(Mode::kNew); // Old = New − Δ with Δ empty
		} else {
			cache_[i] = Generate(mode);
		}
		cached_[i] = true;
	}
	return cache_[i];
}

std::string Op::Describe() const {
	std::string out = kind_;
	if (!children.empty()) {
		out += "(";
		for (std::size_t i = 0; i < children.size(); i++) {
			out += (i ? ", " : "") + children[i]->Describe();
		}
		out += ")";
	}
	return out;
}

void CheckLevel(Query *q, bool whole) {
	if (whole && OrderSensitiveWindows(q)) {
		Reject("window functions whose result depends on the order of rows that tie in their "
		       "ORDER BY, inside a subquery evaluated as a whole (in an expression, under an "
		       "outer join or in LATERAL)");
	}
	if (q->hasTargetSRFs) {
		Reject("set-returning functions in the select list");
	}
	if (q->limitCount != nullptr || q->limitOffset != nullptr) {
		Reject("LIMIT/OFFSET");
	}
	if (q->hasDistinctOn) {
		Reject("DISTINCT ON");
	}
	if (q->cteList != NIL && !IsRecursiveWrapper(q)) {
		Reject("WITH RECURSIVE");
	}
	ListCell *lc;
	foreach (lc, q->rtable) {
		RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
		switch (rte->rtekind) {
		case RTE_RELATION:
		case RTE_JOIN:
		case RTE_SUBQUERY: // LATERAL ones too (op_lateral.cpp)
		case RTE_FUNCTION: // set-returning functions (op_lateral.cpp)
		case RTE_VALUES:   // (op_lateral.cpp)
		case RTE_CTE:      // only recursive ones are left, in their wrapper (op_recursive.cpp)
			break;
		default:
			Reject("FROM items other than tables, views, subqueries, joins, functions and VALUES "
			       "(table functions such as XMLTABLE, named tuplestores)");
		}
	}
}

namespace {

bool OuterJoinWalker(::Node *node, void *) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, JoinExpr) && ((JoinExpr *)node)->jointype != JOIN_INNER) {
		return true;
	}
	if (IsA(node, JoinExpr) || IsA(node, FromExpr) || IsA(node, List)) {
		if (IsA(node, JoinExpr)) {
			JoinExpr *j = (JoinExpr *)node;
			return OuterJoinWalker(j->larg, nullptr) || OuterJoinWalker(j->rarg, nullptr);
		}
		if (IsA(node, FromExpr)) {
			return OuterJoinWalker((::Node *)((FromExpr *)node)->fromlist, nullptr);
		}
		ListCell *lc;
		foreach (lc, (List *)node) {
			if (OuterJoinWalker((::Node *)lfirst(lc), nullptr)) {
				return true;
			}
		}
	}
	return false;
}

} // namespace

bool HasOuterJoin(Query *q) {
	return OuterJoinWalker((::Node *)q->jointree, nullptr);
}

std::unique_ptr<Op> Builder::Build(Query *q) {
	CheckLevel(q, /*whole=*/false);
	if (q->hasSubLinks && q->setOperations == nullptr) {
		JoinUncorrelatedScalars(q);
		JoinCorrelatedScalars(q);
	}
	for (const auto &reg : Registry()) {
		if (auto op = reg.lower(q, *this)) {
			return op;
		}
	}
	Reject("this query shape");
}

std::unique_ptr<Op> Builder::BuildRte(RangeTblEntry *rte) {
	switch (rte->rtekind) {
	case RTE_RELATION:
		return MakeScan(rte);
	case RTE_SUBQUERY:
		if (rte->lateral) {
			break;
		}
		return Build(rte->subquery);
	default:
		break;
	}
	Reject("FROM items other than tables, views, subqueries and joins (functions, VALUES, "
	       "LATERAL)");
}

// ------------------------------------------------------------------------------------------------
// CTE inlining (PG regime walkers collect; the C++ side rewrites).

namespace {

struct CteScope {
	std::vector<List *> stack; // cteList of each enclosing level, innermost last
	bool recursive;
	bool failed_lookup;
};

bool InlineWalker(::Node *node, CteScope *scope);

void InlineQuery(Query *q, CteScope *scope) {
	if (IsRecursiveWrapper(q)) {
		return; // a recursive CTE kept as such (op_recursive.cpp)
	}
	scope->stack.push_back(q->cteList);
	ListCell *lc;
	foreach (lc, q->rtable) {
		RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
		if (rte->rtekind != RTE_CTE) {
			continue;
		}
		if (rte->self_reference || rte->ctelevelsup >= scope->stack.size()) {
			scope->recursive = true;
			continue;
		}
		List *ctes = scope->stack[scope->stack.size() - 1 - rte->ctelevelsup];
		CommonTableExpr *found = nullptr;
		ListCell *c;
		foreach (c, ctes) {
			CommonTableExpr *cte = (CommonTableExpr *)lfirst(c);
			if (strcmp(cte->ctename, rte->ctename) == 0) {
				found = cte;
			}
		}
		if (found == nullptr || !IsA(found->ctequery, Query)) {
			scope->failed_lookup = true;
			continue;
		}
		if (found->cterecursive) {
			WrapRecursiveCte(rte, ctes, found);
			continue;
		}
		Query *sub = (Query *)copyObjectImpl(found->ctequery);
		// The copy moves ctelevelsup levels down: its references to enclosing levels move too.
		if (rte->ctelevelsup > 0) {
			IncrementVarSublevelsUp((::Node *)sub, (int)rte->ctelevelsup, 1);
		}
		rte->rtekind = RTE_SUBQUERY;
		rte->subquery = sub;
		rte->ctename = nullptr;
		rte->ctelevelsup = 0;
		rte->self_reference = false;
		rte->coltypes = NIL;
		rte->coltypmods = NIL;
		rte->colcollations = NIL;
	}
	// Subqueries (the inlined ones included) and sublinks, with this level's CTEs in scope.
	query_tree_walker(q, (bool (*)())InlineWalker, scope, QTW_IGNORE_CTE_SUBQUERIES);
	scope->stack.pop_back();
}

bool InlineWalker(::Node *node, CteScope *scope) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Query)) {
		InlineQuery((Query *)node, scope);
		return false;
	}
	return expression_tree_walker(node, (bool (*)())InlineWalker, scope);
}

bool ClearCtesWalker(::Node *node, void *ctx) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Query)) {
		Query *q = (Query *)node;
		if (IsRecursiveWrapper(q)) {
			return false;
		}
		q->cteList = NIL;
		return query_tree_walker(q, (bool (*)())ClearCtesWalker, ctx, QTW_IGNORE_CTE_SUBQUERIES);
	}
	return expression_tree_walker(node, (bool (*)())ClearCtesWalker, ctx);
}

// PG-regime walker state for the column references DIFFERENTIAL cannot carry.
struct ColumnRefState {
	bool system_column; // xmin, ctid, tableoid, ...: properties of a stored tuple, not of a row
	bool whole_row;     // "t" or "t.*" as one value: the leaf substitution changes its row type
};

bool ColumnRefWalker(::Node *node, ColumnRefState *state) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Var)) {
		Var *var = (Var *)node;
		state->system_column = state->system_column || var->varattno < 0;
		state->whole_row = state->whole_row || var->varattno == 0;
		return false;
	}
	if (IsA(node, Query)) {
		return query_tree_walker((Query *)node, (bool (*)())ColumnRefWalker, state, 0);
	}
	return expression_tree_walker(node, (bool (*)())ColumnRefWalker, state);
}

} // namespace

void InlineCtes(Query *q) {
	CteScope scope{{}, false, false};
	PgCall([&] {
		InlineQuery(q, &scope);
		if (!scope.recursive && !scope.failed_lookup) {
			ClearCtesWalker((::Node *)q, nullptr);
		}
	});
	if (scope.recursive) {
		Reject("WITH RECURSIVE");
	}
	if (scope.failed_lookup) {
		Reject("data-modifying WITH");
	}
}

void MarkQuiet(Op &op, const std::vector<Oid> &quiet) {
	for (auto &child : op.children) {
		MarkQuiet(*child, quiet);
	}
	op.quiet_ = !op.leaves.empty() && std::all_of(op.leaves.begin(), op.leaves.end(), [&](Oid r) {
		return std::find(quiet.begin(), quiet.end(), r) != quiet.end();
	});
}

std::unique_ptr<Op> BuildPlan(Query *top, Builder &b) {
	// A non-IMMUTABLE function can change its result while no source changes (now(), a
	// function reading another table, a setting): no delta would ever say so.
	if (auto what = analyze::FirstNonImmutable(top)) {
		Reject(*what + " (only IMMUTABLE functions give the same result for the same rows)");
	}
	ColumnRefState refs{false, false};
	PgCall([&] { (void)ColumnRefWalker((::Node *)top, &refs); });
	if (refs.system_column) {
		Reject("system columns (xmin, ctid, tableoid, ...)");
	}
	if (refs.whole_row) {
		Reject("whole-row references to a table or view (such as \"SELECT t FROM t\" or "
		       "\"count(t.*)\")");
	}
	InlineCtes(top);
	auto root = b.Build(top);
	if (root->leaves.empty()) {
		Reject("a query without source tables");
	}
	CheckOrderSensitiveWindows(*root);
	MarkQuiet(*root, b.quiet);
	return root;
}

} // namespace pgtrickle::ivm
