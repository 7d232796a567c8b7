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
// over the recursion only processes the rows that changed). T_old of a table with a one-column
// primary key is its current rows minus those whose key has a net change, plus the net deletes
// (KeyedOldImage: the change buffer netted once, the table not consolidated);
// of other tables the consolidated multiset (every row hashed, in every iteration). Incremental
// insertion (semi-naive evaluation seeded with the previous result) is not done: it needs the
// previous result of the recursion itself, which the stream table holds only when the recursion
// is the whole query.
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "rewrite/rewriteManip.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

#include <optional>
#include <vector>

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

// The 0-based column positions of relid's primary key, or nullopt without one. C++ regime.
std::optional<std::vector<int>> PrimaryKeyColumns(Oid relid) {
	return PgCall([&]() -> std::optional<std::vector<int>> {
		Relation rel = table_open(relid, AccessShareLock);
		Oid pk = RelationGetPrimaryKeyIndex(rel);
		table_close(rel, AccessShareLock);
		if (!OidIsValid(pk)) {
			return std::nullopt;
		}
		Relation idx = index_open(pk, AccessShareLock);
		std::vector<int> cols;
		for (int i = 0; i < idx->rd_index->indnkeyatts; i++) {
			cols.push_back(idx->rd_index->indkey.values[i] - 1);
		}
		index_close(idx, AccessShareLock);
		return cols;
	});
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
			std::string with;
			ListCell *lc;
			foreach (lc, c.rtes) {
				Op &leaf = *children[i++];
				std::string cte = "__pgt_rold" + std::to_string(i);
				std::optional<std::string> body = KeyedOldImage(leaf, cte);
				Query *sub;
				if (body) {
					std::string changes = "SELECT " + Names(leaf.columns.size(), true, "d") +
					                      " FROM " + From(leaf, Mode::kDelta, "d");
					sub = ParseInCteScope(cte, changes, *body);
					with += (with.empty() ? "WITH " : ", ") + cte + " AS MATERIALIZED (\n" +
					        changes + "\n)";
				} else {
					sub = ParseOne(Bag(leaf, Mode::kOld));
				}
				ReplaceRte((RangeTblEntry *)lfirst(lc), sub, leaf.columns.size(), false);
			}
			if (with.empty()) {
				return Deparse(copy);
			}
			return with + "\nSELECT * FROM (\n" + Deparse(copy) + "\n) AS __pgt_o";
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
	// The rows of a table before the changes, each once (what the recursion reads), when the
	// table has a one-column primary key. A table holds at most one row per key at each
	// snapshot, so
	//   Old(L) = {r in New(L) : no net change has r's key} + {rows of net weight −1 in Δ(L)}
	// (a key whose changes net to nothing keeps its current row, which is its old row; a net
	// weight is never below −1, as the old table held each row at most once). The netted
	// changes are the MATERIALIZED CTE `cte` (computed once per refresh; the caller defines it).
	// The key test is NOT (key = ANY (subquery)), a hashed subplan over the CTE. PostgreSQL does
	// not flatten this UNION ALL into the recursive join (measured: it still scans and hash-joins
	// the whole table in each iteration), but no longer hashes every row on every column.
	// Keys compare with their type's equality, as the key constraint does. nullopt otherwise:
	// the caller uses the consolidated multiset New(L) − Δ(L) (Bag), which hashes every row of
	// the table in every iteration of the recursion.
	std::optional<std::string> KeyedOldImage(Op &leaf, const std::string &cte) {
		std::optional<std::vector<int>> pk = PrimaryKeyColumns(leaf.leaves.front());
		std::string op;
		if (pk && pk->size() == 1 && (*pk)[0] >= 0 &&
		    static_cast<std::size_t>((*pk)[0]) < leaf.columns.size()) {
			op = EqualityOperator(leaf.columns[(*pk)[0]].type);
		}
		if (op.empty()) {
			return std::nullopt;
		}
		std::size_t n = leaf.columns.size();
		std::string key = "__pgt_c" + std::to_string((*pk)[0] + 1);
		return "SELECT " + Names(n, false, "r") + " FROM " + From(leaf, Mode::kNew, "r") +
		       " WHERE NOT (r." + key + " " + op + " ANY (SELECT d." + key + " FROM " + cte +
		       " d))\nUNION ALL\nSELECT " + Names(n, false, "d") + " FROM " + cte +
		       " d WHERE d.__pgt_w < 0";
	}

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
