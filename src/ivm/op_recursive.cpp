// recursive: a WITH RECURSIVE common table expression (UNION or UNION ALL, CYCLE/SEARCH clauses,
// hierarchies, bills of materials, graph reachability), read anywhere in the query.
//
// Each reference to a recursive CTE becomes a subquery "WITH RECURSIVE r AS (...) SELECT * FROM r"
// (WrapRecursiveCte, during CTE inlining; the CTEs of the same WITH go along, the non-recursive
// references are inlined as before). That subquery is this operator:
//
// Rule (Z-sets): with R the recursive relation over the tables T it reads (at any depth),
//   Δ R = R(T_new) − R(T_old)   when some table of T has changes, else ∅
// netted by identity, where R(T_old) is the same recursion with every table replaced by its
// consolidated old rows. This is recomputation of the recursion, sound for inserts, deletes and
// updates alike (PostgreSQL's own evaluation, which is itself semi-naive: each iteration joins only
// the rows the previous one produced; cycles terminate exactly as in PostgreSQL: UNION drops
// rows already produced, UNION ALL needs a terminating condition or a CYCLE clause, as it does
// for the query itself). Cost: two evaluations of the recursion whenever one of its tables
// changed, plus netting its output; the levels above it stay incremental (a join or an aggregate
// over the recursion only processes the rows that changed). Incremental insertion (seeding the
// recursion with the previous result) is not done: it needs the previous result of the recursion
// itself, which the stream table holds only when the recursion is the whole query.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "rewrite/rewriteManip.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

struct Collected {
	List *rtes;    // base relation RTEs, walk order (CTE bodies included)
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

class Recursive : public Op {
  public:
	explicit Recursive(Query *q) : Op("recursive") {
		columns = OutputColumns(q);
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		ShapeTargets(template_, Int8Const(1), false);
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

	std::string Describe() const override {
		std::string out = "recursive[recomputed when its tables change](";
		for (std::size_t i = 0; i < children.size(); i++) {
			out += (i ? ", " : "") + children[i]->Describe();
		}
		return out + ")";
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

std::unique_ptr<Op> LowerRecursive(Query *q, Builder &) {
	if (!IsRecursiveWrapper(q)) {
		return nullptr;
	}
	return std::make_unique<Recursive>(q);
}

} // namespace

// A wrapper is the only query with canSetTag = false (every query PostgreSQL's analyzer builds,
// subqueries included, has it true); it survives copies and is not printed.
bool IsRecursiveWrapper(Query *q) {
	return !q->canSetTag && q->hasRecursive && q->cteList != NIL;
}

void WrapRecursiveCte(RangeTblEntry *rte, List *ctes, CommonTableExpr *cte) {
	// PG regime (called from the CTE inliner's walker).
	Query *w = makeNode(Query);
	w->commandType = CMD_SELECT;
	w->querySource = QSRC_ORIGINAL;
	w->canSetTag = false; // marks the wrapper (IsRecursiveWrapper)
	w->hasRecursive = true;
	w->cteList = (List *)copyObjectImpl(ctes);
	// SEARCH and CYCLE were rewritten into the CTE's query by the rewriter (its columns are
	// computed there): printing the clauses too would define their columns twice.
	ListCell *c;
	foreach (c, w->cteList) {
		((CommonTableExpr *)lfirst(c))->search_clause = nullptr;
		((CommonTableExpr *)lfirst(c))->cycle_clause = nullptr;
	}
	RangeTblEntry *ref = (RangeTblEntry *)copyObjectImpl(rte);
	ref->ctelevelsup = 0;
	ref->alias = nullptr;
	ref->eref = makeAlias(cte->ctename, (List *)copyObjectImpl(cte->ctecolnames));
	ref->inFromCl = true;
	w->rtable = list_make1(ref);
	RangeTblRef *rtr = makeNode(RangeTblRef);
	rtr->rtindex = 1;
	w->jointree = makeFromExpr(list_make1(rtr), nullptr);
	List *tl = NIL;
	ListCell *name, *type, *typmod, *coll;
	AttrNumber attno = 1;
	forfour(name, cte->ctecolnames, type, cte->ctecoltypes, typmod, cte->ctecoltypmods, coll,
	        cte->ctecolcollations) {
		tl = lappend(tl, makeTargetEntry((Expr *)makeVar(1, attno, lfirst_oid(type),
		                                                 lfirst_int(typmod), lfirst_oid(coll), 0),
		                                 attno, pstrdup(strVal(lfirst(name))), false));
		attno++;
	}
	w->targetList = tl;
	// The wrapper moves ctelevelsup levels down: references to enclosing levels move too.
	if (rte->ctelevelsup > 0) {
		IncrementVarSublevelsUp((::Node *)w, (int)rte->ctelevelsup, 1);
	}
	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = w;
	rte->ctename = nullptr;
	rte->ctelevelsup = 0;
	rte->self_reference = false;
	rte->coltypes = NIL;
	rte->coltypmods = NIL;
	rte->colcollations = NIL;
}

PGT_IVM_LOWERING(recursive, 5, LowerRecursive);

} // namespace pgtrickle::ivm
