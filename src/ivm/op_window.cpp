// window: one query level with window functions W_{P; f}(X) at any depth: ranking (row_number,
// rank, dense_rank, percent_rank, cume_dist, ntile), offsets (lag, lead, first_value, last_value,
// nth_value), aggregates over frames (ROWS / RANGE / GROUPS, EXCLUDE), named windows, several
// window clauses; over a plain level or over a grouped one (windows over aggregates).
//
// Rule (affected-partition recomputation, Z-sets): with X the level's input (its FROM, WHERE,
// GROUP BY and HAVING: an operator of its own that outputs the partition key P then every value
// the window functions and the select list read) and K = the distinct values of P in ΔX,
//   ΔW(X) = W(X_new|K) − W(X_old|K)
// netted by identity. P is the PARTITION BY expressions common to every window clause the level
// uses: each partition of each clause lies inside one partition of P (its rows agree on P), so a
// row's output depends only on rows of its own P-partition, and rows of partitions outside K keep
// their output. Without a common expression (no PARTITION BY, or clauses partitioned by disjoint
// expressions) the whole input is one partition: any change recomputes the level (explain_st's
// operator tree says "one partition"). X_old is consolidated (Bag) first.
//
// Ties. A window function whose value depends on the order of rows that tie in its ORDER BY
// (row_number, ntile, lag, lead, first_value, last_value, nth_value, ROWS frames, aggregates
// other than count/sum/avg/min/max/bool_and/bool_or/every/bit_and/bit_or, sum/avg of floats) is
// not a function of the input multiset: W(X_old|K) evaluated now may number tied rows otherwise
// than the evaluation the stream table holds. Such a level is accepted only (a) when its ORDER
// BYs and PARTITION BYs cover every value the level reads (tied rows are then identical), or
// (b) at the top of the plan (directly, or under one plain filter/projection level: operator
// "window_filter"), with P selected as output columns of a type with equality: the stream table
// is then maintained by deleting the rows of the partitions of K and inserting them recomputed
// from the defining query (SelectedKeys), so every stored partition is one evaluation of the
// query. Other placements are refused (CheckOrderSensitiveWindows).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

#include <set>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/lsyscache.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

// The values a window level reads from its input: maximal subtrees that are a GROUP BY
// expression (grouped levels), an aggregate or GROUPING() of this level, or a column.
struct ItemCollector {
	List *group_exprs;
	List *items;
};

bool IsItem(::Node *node, ItemCollector *c) {
	if (IsA(node, Var)) {
		return ((Var *)node)->varlevelsup == 0;
	}
	if (IsA(node, Aggref)) {
		return ((Aggref *)node)->agglevelsup == 0;
	}
	if (IsA(node, GroupingFunc)) {
		return ((GroupingFunc *)node)->agglevelsup == 0;
	}
	return list_member(c->group_exprs, node);
}

bool CollectItems(::Node *node, ItemCollector *c) {
	if (node == nullptr) {
		return false;
	}
	if (!IsA(node, WindowFunc) && !IsA(node, List) && IsItem(node, c)) {
		if (!list_member(c->items, node)) {
			c->items = lappend(c->items, node);
		}
		return false;
	}
	return expression_tree_walker(node, (bool (*)())CollectItems, c);
}

struct ItemMapper {
	List *items;
	int offset; // input column of items[0] is offset + 1
};

::Node *MapItems(::Node *node, ItemMapper *m) {
	if (node == nullptr) {
		return nullptr;
	}
	if (!IsA(node, WindowFunc) && !IsA(node, List)) {
		int i = 0;
		ListCell *lc;
		foreach (lc, m->items) {
			if (equal(lfirst(lc), node)) {
				::Node *e = (::Node *)lfirst(lc);
				return (::Node *)makeVar(1, (AttrNumber)(m->offset + i + 1), exprType(e),
				                         exprTypmod(e), exprCollation(e), 0);
			}
			i++;
		}
	}
	return expression_tree_mutator(node, (::Node * (*)()) MapItems, m);
}

bool CollectWindowFuncs(::Node *node, List **out) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, WindowFunc)) {
		*out = lappend(*out, node);
	}
	return expression_tree_walker(node, (bool (*)())CollectWindowFuncs, out);
}

// Whether the function's value for a row is a function of the input multiset (does not depend
// on how rows that tie in the window's ORDER BY are ordered).
bool OrderInsensitive(WindowFunc *wf, WindowClause *wc) {
	std::string name = PgCall([&] {
		char *n = get_func_name(wf->winfnoid);
		return std::string(n ? n : "");
	});
	if (!wf->winagg) {
		return name == "rank" || name == "dense_rank" || name == "percent_rank" ||
		       name == "cume_dist";
	}
	if ((wc->frameOptions & FRAMEOPTION_ROWS) != 0) {
		return false;
	}
	static const std::set<std::string> commutative = {
	    "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "bit_and", "bit_or"};
	if (commutative.count(name) == 0) {
		return false;
	}
	if (name == "sum" || name == "avg") {
		// Float addition is not associative: the last bits depend on the order.
		ListCell *lc;
		foreach (lc, wf->args) {
			Oid t = PgCall([&] { return exprType((::Node *)lfirst(lc)); });
			if (t == FLOAT4OID || t == FLOAT8OID) {
				return false;
			}
		}
	}
	return true;
}

// What a window level reads and how it is partitioned.
struct WindowLevel {
	std::vector<Expr *> keys;      // PARTITION BY expressions common to every clause used
	ItemCollector items{NIL, NIL}; // the values read
	List *kept = NIL;              // target entries of the window evaluation
	bool order_sensitive = false;  // some function depends on the order of tied rows
};

std::vector<Expr *> PartitionExprs(Query *q, WindowClause *wc) {
	std::vector<Expr *> out;
	ListCell *lc;
	foreach (lc, wc->partitionClause) {
		out.push_back(PgCall([&] {
			return get_sortgroupclause_tle((SortGroupClause *)lfirst(lc), q->targetList)->expr;
		}));
	}
	return out;
}

WindowLevel AnalyzeWindows(Query *q) {
	WindowLevel w;
	ItemCollector &items = w.items;
	List *&kept = w.kept;
	List *funcs = NIL;
	PgCall([&] { (void)CollectWindowFuncs((::Node *)q->targetList, &funcs); });
	// The window clauses used, and the expressions common to their PARTITION BYs.
	std::vector<WindowClause *> used;
	ListCell *lc;
	foreach (lc, q->windowClause) {
		WindowClause *wc = (WindowClause *)lfirst(lc);
		ListCell *f;
		foreach (f, funcs) {
			if (((WindowFunc *)lfirst(f))->winref == wc->winref) {
				used.push_back(wc);
				break;
			}
		}
	}
	std::vector<Expr *> &keys = w.keys;
	for (std::size_t i = 0; i < used.size(); i++) {
		std::vector<Expr *> mine = PartitionExprs(q, used[i]);
		if (i == 0) {
			keys = mine;
			continue;
		}
		std::vector<Expr *> common;
		for (Expr *k : keys) {
			for (Expr *e : mine) {
				if (PgCall([&] { return equal(k, e); })) {
					common.push_back(k);
					break;
				}
			}
		}
		keys = common;
	}

	// The values read: from the select list and the window clauses' expressions (junk
	// entries); GROUP BY expressions of a grouped level are values of their own.
	std::set<Index> window_refs;
	for (WindowClause *wc : used) {
		for (List *l : {wc->partitionClause, wc->orderClause}) {
			ListCell *c;
			foreach (c, l) {
				window_refs.insert(((SortGroupClause *)lfirst(c))->tleSortGroupRef);
			}
		}
	}
	PgCall([&] {
		ListCell *c;
		foreach (c, q->groupClause) {
			TargetEntry *te = get_sortgroupclause_tle((SortGroupClause *)lfirst(c), q->targetList);
			items.group_exprs = lappend(items.group_exprs, te->expr);
		}
		foreach (c, q->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(c);
			if (te->resjunk && window_refs.count(te->ressortgroupref) == 0) {
				continue;
			}
			kept = lappend(kept, te);
			(void)CollectItems((::Node *)te->expr, &items);
		}
	});

	// Order-sensitive functions: accepted when the windows' keys cover every value read.
	ListCell *f;
	foreach (f, funcs) {
		WindowFunc *wf = (WindowFunc *)lfirst(f);
		WindowClause *wc = nullptr;
		for (WindowClause *u : used) {
			if (u->winref == wf->winref) {
				wc = u;
			}
		}
		if (OrderInsensitive(wf, wc)) {
			continue;
		}
		std::vector<Expr *> covered = PartitionExprs(q, wc);
		ListCell *o;
		foreach (o, wc->orderClause) {
			covered.push_back(PgCall([&] {
				return get_sortgroupclause_tle((SortGroupClause *)lfirst(o), q->targetList)->expr;
			}));
		}
		ListCell *it;
		foreach (it, items.items) {
			bool found = false;
			for (Expr *e : covered) {
				found = found || PgCall([&] { return equal(e, lfirst(it)); });
			}
			if (!found) {
				w.order_sensitive = true;
			}
		}
	}

	return w;
}

class Window : public Op {
  public:
	Window(Query *q, Builder &b) : Op("window") {
		columns = OutputColumns(q);
		WindowLevel w = AnalyzeWindows(q);
		std::vector<Expr *> &keys = w.keys;
		ItemCollector &items = w.items;
		List *kept = w.kept;
		order_sensitive_ = w.order_sensitive;
		m_ = keys.size();
		for (Expr *e : keys) {
			Column c;
			PgCall([&] {
				c.type = exprType((::Node *)e);
				c.typmod = exprTypmod((::Node *)e);
				c.collation = exprCollation((::Node *)e);
			});
			key_columns_.push_back(c);
			key_outputs_.push_back(OutputOf(q, e));
		}

		// The input: the level without its windows, outputting P then the values read.
		Query *input = PgCall([&] {
			Query *in = (Query *)copyObjectImpl(q);
			List *tl = NIL;
			AttrNumber resno = 1;
			for (Expr *e : keys) {
				tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(e), resno,
				                                 psprintf("__pgt_c%d", resno), false));
				resno++;
			}
			ListCell *c;
			foreach (c, items.items) {
				tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(lfirst(c)), resno,
				                                 psprintf("__pgt_c%d", resno), false));
				resno++;
			}
			if (tl == NIL) {
				tl = lappend(tl, makeTargetEntry((Expr *)makeConst(INT4OID, -1, InvalidOid, 4,
				                                                   Int32GetDatum(1), false, true),
				                                 1, pstrdup("__pgt_c1"), false));
			}
			// GROUP BY expressions stay as junk entries (the grouping refers to them).
			foreach (c, q->targetList) {
				TargetEntry *te = (TargetEntry *)lfirst(c);
				if (te->ressortgroupref != 0 && list_member(items.group_exprs, te->expr)) {
					TargetEntry *junk = (TargetEntry *)copyObjectImpl(te);
					junk->resjunk = true;
					junk->resno = resno++;
					junk->resname = nullptr;
					tl = lappend(tl, junk);
				}
			}
			in->targetList = tl;
			in->hasWindowFuncs = false;
			in->windowClause = NIL;
			in->sortClause = NIL;
			in->limitCount = nullptr;
			in->limitOffset = nullptr;
			return in;
		});
		children.push_back(b.Build(input));
		leaves = children[0]->leaves;
		input_width_ = children[0]->columns.size();

		// The window evaluation over one FROM item (the input), its values renumbered.
		template_ = PgCall([&] {
			ItemMapper mapper{items.items, static_cast<int>(m_)};
			Query *qw = makeNode(Query);
			qw->commandType = CMD_SELECT;
			qw->querySource = QSRC_ORIGINAL;
			qw->canSetTag = true;
			RangeTblEntry *rte = makeNode(RangeTblEntry);
			rte->rtekind = RTE_SUBQUERY;
			rte->alias = makeAlias("__pgt_in", NIL);
			rte->eref = makeAlias("__pgt_in", NIL);
			rte->inFromCl = true;
			qw->rtable = list_make1(rte);
			RangeTblRef *ref = makeNode(RangeTblRef);
			ref->rtindex = 1;
			qw->jointree = makeFromExpr(list_make1(ref), nullptr);
			List *tl = NIL;
			AttrNumber resno = 1;
			ListCell *c;
			foreach (c, kept) {
				TargetEntry *te = (TargetEntry *)copyObjectImpl(lfirst(c));
				te->expr = (Expr *)MapItems((::Node *)te->expr, &mapper);
				te->resno = resno++;
				tl = lappend(tl, te);
			}
			qw->targetList = tl;
			qw->windowClause = (List *)copyObjectImpl(q->windowClause);
			qw->hasWindowFuncs = true;
			return qw;
		});
		ShapeTargets(template_, Int8Const(1), true);
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

	bool SelectedKeys(std::vector<int> *outputs, std::string *key_sql) override {
		if (m_ == 0) {
			return false;
		}
		for (std::size_t i = 0; i < m_; i++) {
			if (key_outputs_[i] < 0 || EqualityOperator(key_columns_[i].type).empty() ||
			    PgCall([&] { return type_is_array(key_columns_[i].type); })) {
				return false;
			}
		}
		*outputs = key_outputs_;
		*key_sql = KeySql();
		return true;
	}

	std::string Describe() const override {
		std::string part = m_ == 0 ? "one partition (no common PARTITION BY)"
		                           : "partitions by " + std::to_string(m_) + " key(s)";
		return "window[" + part + (order_sensitive_ ? ", ties: partitions replaced" : "") + "](" +
		       children[0]->Describe() + ")";
	}

	bool order_sensitive() const {
		return order_sensitive_;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Over(ParseOne(Bag(*children[0], mode)));
		}
		std::size_t n = columns.size();
		std::string k = KeyCte();
		auto restricted = [&](Mode m) {
			std::vector<std::string> key_cols;
			for (std::size_t i = 0; i < key_columns_.size(); i++) {
				key_cols.push_back("f.__pgt_c" + std::to_string(i + 1));
			}
			std::string body = RestrictToKeys("(" + Bag(*children[0], m) + ") AS f(" +
			                                      Names(input_width_, false) + ")",
			                                  key_cols, k, key_columns_);
			return Over(ParseInCteScope(k, KeySql(), body));
		};
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < n; i++) {
			cols.push_back("__pgt_c" + std::to_string(i + 1));
		}
		std::string rows = "SELECT " + Names(n, true, "p") + " FROM (" + restricted(Mode::kNew) +
		                   ") AS p(" + Names(n, true) + ") UNION ALL SELECT " +
		                   Prefix(Names(n, false, "o")) + "-o.__pgt_w FROM (" +
		                   restricted(Mode::kOld) + ") AS o(" + Names(n, true) + ")";
		return "WITH " + k + " AS MATERIALIZED (\n" + KeySql() + "\n) " +
		       NetByIdentity(rows, cols, KindsOf(columns));
	}

  private:
	// The output position of a selected column equal to e, or -1.
	static int OutputOf(Query *q, Expr *e) {
		int pos = 0;
		ListCell *lc;
		foreach (lc, q->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (te->resjunk) {
				continue;
			}
			if (PgCall([&] { return equal(te->expr, e); })) {
				return pos;
			}
			pos++;
		}
		return -1;
	}

	std::string KeySql() {
		if (m_ == 0) {
			return "SELECT 1 AS __pgt_any FROM " + From(*children[0], Mode::kDelta, "d") +
			       " LIMIT 1";
		}
		return "SELECT DISTINCT " + Names(m_, false, "d") + " FROM (\n" +
		       children[0]->Sql(Mode::kDelta) + "\n) AS d(" + Names(input_width_, true) + ")";
	}

	std::string Over(Query *input) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		RangeTblEntry *rte = PgCall([&] { return rt_fetch(1, copy->rtable); });
		ReplaceRte(rte, input, input_width_, false);
		return Deparse(copy);
	}

	std::size_t m_ = 0;
	std::size_t input_width_ = 0;
	bool order_sensitive_ = false;
	std::vector<int> key_outputs_;
	std::vector<Column> key_columns_;
	Query *template_;
};

// window_filter: a plain level (filter and projection, no join, no aggregation) over one
// subquery with window functions, e.g. the top-K-per-partition idiom
//   SELECT ... FROM (SELECT ..., row_number() OVER (PARTITION BY p ORDER BY x) AS rn ...) s
//   WHERE rn <= 3
// Rule: σπ is linear, Δσπ(W) = σπ(ΔW). When the window's partition keys pass through as selected
// columns, the stream table is maintained by replacing the affected partitions (SelectedKeys).
class WindowFilter : public Op {
  public:
	WindowFilter(Query *q, int rtindex, std::unique_ptr<Op> child)
	    : Op("window_filter"), rtindex_(rtindex) {
		columns = OutputColumns(q);
		children.push_back(std::move(child));
		leaves = children[0]->leaves;
		template_ = (Query *)PgCall([&] { return copyObjectImpl(q); });
		template_->sortClause = NIL;
		// Output position of each child column passed through unchanged.
		int pos = 0;
		ListCell *lc;
		foreach (lc, q->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (te->resjunk) {
				continue;
			}
			if (IsA(te->expr, Var) && ((Var *)te->expr)->varno == rtindex &&
			    ((Var *)te->expr)->varlevelsup == 0) {
				passed_.emplace_back(((Var *)te->expr)->varattno - 1, pos);
			}
			pos++;
		}
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

	bool SelectedKeys(std::vector<int> *outputs, std::string *key_sql) override {
		std::vector<int> inner;
		if (!children[0]->SelectedKeys(&inner, key_sql)) {
			return false;
		}
		outputs->clear();
		for (int k : inner) {
			int found = -1;
			for (const auto &[from, to] : passed_) {
				if (from == k) {
					found = to;
				}
			}
			if (found < 0) {
				return false;
			}
			outputs->push_back(found);
		}
		return true;
	}

  protected:
	std::string Generate(Mode mode) override {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		Op &child = *children[0];
		Query *sub = ParseOne(child.Sql(mode));
		int rtindex = rtindex_;
		RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, copy->rtable); });
		ReplaceRte(rte, sub, child.columns.size(), true);
		AttrNumber wattno = static_cast<AttrNumber>(child.columns.size() + 1);
		::Node *weight =
		    PgCall([&] { return (::Node *)makeVar(rtindex, wattno, INT8OID, -1, InvalidOid, 0); });
		ShapeTargets(copy, weight, false);
		return Deparse(copy);
	}

  private:
	int rtindex_;
	std::vector<std::pair<int, int>> passed_; // (child column, output position)
	Query *template_;
};

std::unique_ptr<Op> LowerWindow(Query *q, Builder &b) {
	if (!q->hasWindowFuncs || q->setOperations != nullptr) {
		return nullptr;
	}
	if (q->distinctClause != NIL) {
		Reject("DISTINCT together with window functions in one query level");
	}
	bool sublinks = PgCall([&] { return checkExprHasSubLink((::Node *)q->targetList); });
	if (sublinks) {
		Reject("subqueries in the select list of a query level with window functions");
	}
	return std::make_unique<Window>(q, b);
}

std::unique_ptr<Op> LowerWindowFilter(Query *q, Builder &b) {
	if (q->setOperations != nullptr || q->hasAggs || q->groupClause != NIL ||
	    q->distinctClause != NIL || q->havingQual != nullptr || q->hasSubLinks ||
	    q->hasWindowFuncs || q->jointree == nullptr || list_length(q->jointree->fromlist) != 1 ||
	    !IsA(linitial(q->jointree->fromlist), RangeTblRef)) {
		return nullptr;
	}
	int rtindex = ((RangeTblRef *)linitial(q->jointree->fromlist))->rtindex;
	RangeTblEntry *rte = PgCall([&] { return rt_fetch(rtindex, q->rtable); });
	if (rte->rtekind != RTE_SUBQUERY || rte->lateral || !rte->subquery->hasWindowFuncs ||
	    rte->subquery->setOperations != nullptr) {
		return nullptr;
	}
	return std::make_unique<WindowFilter>(q, rtindex, b.Build(rte->subquery));
}

// Whether `op` is a window level whose partitions are replaced at the top.
bool ReplacedAtTop(Op &root) {
	std::vector<int> outputs;
	std::string sql;
	if (root.kind() == "window_filter") {
		return root.SelectedKeys(&outputs, &sql);
	}
	return root.kind() == "window" && root.SelectedKeys(&outputs, &sql);
}

void CheckTree(Op &op, Op *allowed) {
	if (op.kind() == "window" && &op != allowed && static_cast<Window &>(op).order_sensitive()) {
		Reject("window functions whose result depends on the order of rows that tie in their "
		       "ORDER BY (row_number, ntile, lag, lead, first_value, last_value, nth_value, ROWS "
		       "frames, ...) unless the stream table selects their PARTITION BY columns and they "
		       "are at the top of the query, or their ORDER BY and PARTITION BY cover every column "
		       "they read");
	}
	for (auto &c : op.children) {
		CheckTree(*c, allowed);
	}
}

} // namespace

bool OrderSensitiveWindows(Query *q) {
	return q->hasWindowFuncs && AnalyzeWindows(q).order_sensitive;
}

void CheckOrderSensitiveWindows(Op &root) {
	Op *allowed = nullptr;
	if (ReplacedAtTop(root)) {
		allowed = root.kind() == "window" ? &root : root.children[0].get();
	}
	CheckTree(root, allowed);
}

PGT_IVM_LOWERING(window, 20, LowerWindow);
PGT_IVM_LOWERING(window_filter, 95, LowerWindowFilter);

} // namespace pgtrickle::ivm
