// aggregate: one grouped query level γ_{G; aggs}(X) at any depth (GROUP BY expressions, HAVING,
// any aggregate function, FILTER, DISTINCT aggregates, aggregates without GROUP BY), and
// SELECT DISTINCT (γ keyed by every output column, without aggregates).
//
// Rule (affected-key recomputation, Z-sets): with X the level's input (its FROM and WHERE, an
// operator of its own that outputs the grouping keys G then every column the aggregation reads)
// and K = the distinct values of G in ΔX,
//   Δγ(X) = γ(X_new|K) − γ(X_old|K)
// netted by identity, where X|K keeps the rows whose key is in K (by the keys' "=", NULL matching
// NULL). Exact: a group's output depends only on the rows of that group. Without GROUP BY, K is
// "ΔX is not empty" and the single group (which exists over an empty input) is recomputed.
// γ consumes multisets, so X_old is consolidated (Bag) first. New and Old are γ over X_new and
// X_old. When the keys are output columns and the level is the top of the plan, the stream table
// is maintained by deleting and recomputing the groups of K instead (SelectedKeys).
#include "bridge/guard.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
}

namespace pgtrickle::ivm {

namespace {

using bridge::PgCall;

// Columns read outside aggregates (PG regime).
bool PlainVars(::Node *node, List **vars) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Aggref)) {
		return false;
	}
	if (IsA(node, Var) && ((Var *)node)->varlevelsup == 0) {
		*vars = lappend(*vars, node);
		return false;
	}
	return expression_tree_walker(node, (bool (*)())PlainVars, vars);
}

// A GROUP BY relying on a primary key (SELECT c.id, c.name ... GROUP BY c.id) is valid only over
// the table itself: over the aggregation's input subquery every column read outside aggregates is
// added to the GROUP BY, which forms the same groups (they depend on the key). PG regime.
void GroupDependentColumns(Query *qa) {
	List *vars = NIL;
	(void)PlainVars((::Node *)qa->targetList, &vars);
	(void)PlainVars(qa->havingQual, &vars);
	Index next = 0;
	ListCell *lc;
	foreach (lc, qa->targetList) {
		next = Max(next, ((TargetEntry *)lfirst(lc))->ressortgroupref);
	}
	foreach (lc, vars) {
		Var *v = (Var *)lfirst(lc);
		bool grouped = false;
		ListCell *g;
		foreach (g, qa->groupClause) {
			TargetEntry *te = get_sortgroupclause_tle((SortGroupClause *)lfirst(g), qa->targetList);
			grouped = grouped || equal(te->expr, v);
		}
		if (grouped) {
			continue;
		}
		Oid sortop;
		Oid eqop;
		bool hashable;
		get_sort_group_operators(v->vartype, false, true, false, &sortop, &eqop, NULL, &hashable);
		TargetEntry *te = makeTargetEntry((Expr *)copyObjectImpl(v),
		                                  (AttrNumber)(list_length(qa->targetList) + 1),
		                                  pstrdup("__pgt_dep"), true);
		te->ressortgroupref = ++next;
		qa->targetList = lappend(qa->targetList, te);
		SortGroupClause *sgc = makeNode(SortGroupClause);
		sgc->tleSortGroupRef = te->ressortgroupref;
		sgc->eqop = eqop;
		sgc->sortop = sortop;
		sgc->nulls_first = false;
		sgc->hashable = hashable;
		qa->groupClause = lappend(qa->groupClause, sgc);
	}
}

class Aggregate : public Op {
  public:
	Aggregate(Query *q, Builder &b)
	    : Op(q->hasAggs || q->groupClause != NIL ? "aggregate" : "distinct") {
		columns = OutputColumns(q);
		// The grouping keys: GROUP BY expressions, or every output column of a DISTINCT without
		// aggregates (a DISTINCT over aggregates without GROUP BY is a single row).
		std::vector<Expr *> keys;
		if (q->groupClause != NIL) {
			ListCell *lc;
			foreach (lc, q->groupClause) {
				SortGroupClause *sgc = (SortGroupClause *)lfirst(lc);
				TargetEntry *te =
				    PgCall([&] { return get_sortgroupclause_tle(sgc, q->targetList); });
				keys.push_back(te->expr);
				key_outputs_.push_back(te->resjunk ? -1 : OutputPosition(q, te));
			}
			if (q->distinctClause != NIL) {
				for (int pos : key_outputs_) {
					if (pos < 0) {
						// Rows of different groups could then be one DISTINCT row.
						Reject("DISTINCT over a GROUP BY whose keys are not all selected");
					}
				}
			}
		} else if (q->distinctClause != NIL && !q->hasAggs) {
			ListCell *lc;
			foreach (lc, q->targetList) {
				TargetEntry *te = (TargetEntry *)lfirst(lc);
				if (!te->resjunk) {
					keys.push_back(te->expr);
					key_outputs_.push_back(OutputPosition(q, te));
				}
			}
		}
		m_ = keys.size();
		for (Expr *e : keys) {
			Column c;
			PgCall([&] {
				c.type = exprType((::Node *)e);
				c.typmod = exprTypmod((::Node *)e);
				c.collation = exprCollation((::Node *)e);
			});
			key_columns_.push_back(c);
		}
		// The input: the level without its aggregation, outputting the keys and then every
		// column the aggregation reads.
		VarCollector vars{NIL};
		PgCall([&] {
			(void)CollectVars((::Node *)q->targetList, &vars);
			(void)CollectVars(q->havingQual, &vars);
		});
		Query *input = PgCall([&] {
			Query *in = (Query *)copyObjectImpl(q);
			List *tl = NIL;
			AttrNumber resno = 1;
			for (Expr *e : keys) {
				tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(e), resno,
				                                 psprintf("__pgt_c%d", resno), false));
				resno++;
			}
			ListCell *lc;
			foreach (lc, vars.vars) {
				tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(lfirst(lc)), resno,
				                                 psprintf("__pgt_c%d", resno), false));
				resno++;
			}
			if (tl == NIL) {
				// Nothing read (count(*)): one constant column keeps the SQL from having none.
				tl = lappend(tl, makeTargetEntry((Expr *)makeConst(INT4OID, -1, InvalidOid, 4,
				                                                   Int32GetDatum(1), false, true),
				                                 1, pstrdup("__pgt_c1"), false));
			}
			in->targetList = tl;
			in->hasAggs = false;
			in->groupClause = NIL;
			in->havingQual = nullptr;
			in->distinctClause = NIL;
			in->sortClause = NIL;
			return in;
		});
		children.push_back(b.Build(input));
		leaves = children[0]->leaves;
		input_width_ = children[0]->columns.size();

		// The aggregation over one FROM item (the input), its column references renumbered.
		template_ = SingleInputLevel(q, vars.vars, static_cast<int>(m_));
		if (q->constraintDeps != NIL) {
			PgCall([&] { GroupDependentColumns(template_); });
		}
	}

	bool Unit(Mode mode) const override {
		return mode != Mode::kDelta;
	}

	bool SelectedKeys(std::vector<int> *outputs, std::string *key_sql) override {
		if (m_ == 0) {
			return false;
		}
		for (int pos : key_outputs_) {
			if (pos < 0) {
				return false;
			}
		}
		*outputs = key_outputs_;
		*key_sql = KeySql();
		return true;
	}

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			return Over(ParseOne(Bag(*children[0], mode)));
		}
		std::size_t n = columns.size();
		std::string k = KeyCte();
		auto restricted = [&](Mode m) {
			std::string body = "SELECT f.* FROM (" + Bag(*children[0], m) + ") AS f(" +
			                   Names(input_width_, false) + ") WHERE " +
			                   KeyPredicate("f", k, key_columns_);
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
	static int OutputPosition(Query *q, TargetEntry *target) {
		int pos = 0;
		ListCell *lc;
		foreach (lc, q->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (te == target) {
				return pos;
			}
			if (!te->resjunk) {
				pos++;
			}
		}
		return -1;
	}

	// The affected keys: distinct keys of the input's delta (one row when it is not empty, for
	// an aggregation without keys).
	std::string KeySql() {
		if (m_ == 0) {
			return "SELECT 1 AS __pgt_any FROM " + From(*children[0], Mode::kDelta, "d") +
			       " LIMIT 1";
		}
		return "SELECT DISTINCT " + Names(m_, false, "d") + " FROM (\n" +
		       children[0]->Sql(Mode::kDelta) + "\n) AS d(" + Names(input_width_, true) + ")";
	}

	// The aggregation over `input` (plain rows of the input's columns), weight 1 per row.
	std::string Over(Query *input) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(template_); });
		RangeTblEntry *rte = PgCall([&] { return rt_fetch(1, copy->rtable); });
		ReplaceRte(rte, input, input_width_, false);
		return Deparse(copy);
	}

	std::size_t m_ = 0;
	std::size_t input_width_ = 0;
	std::vector<int> key_outputs_;
	std::vector<Column> key_columns_;
	Query *template_;
};

std::unique_ptr<Op> LowerAggregate(Query *q, Builder &b) {
	if (q->setOperations != nullptr || !(q->hasAggs || q->groupClause != NIL ||
	                                     q->distinctClause != NIL || q->havingQual != nullptr)) {
		return nullptr;
	}
	bool sublinks = PgCall([&] {
		return checkExprHasSubLink((::Node *)q->targetList) || checkExprHasSubLink(q->havingQual);
	});
	if (sublinks) {
		return nullptr; // subqueries in the select list or HAVING: recomputed whole
	}
	return std::make_unique<Aggregate>(q, b);
}

} // namespace

PGT_IVM_LOWERING(aggregate, 30, LowerAggregate);

} // namespace pgtrickle::ivm
