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
//
// Algebraic rule (top level, Algebraic(); applied by src/delta/apply_algebraic.cpp). When every
// aggregate is COUNT(*), COUNT(x), SUM/AVG over integers or numeric, or MIN/MAX over a type whose
// "=" is identity and without collation (FILTER allowed, no DISTINCT/ORDER BY), and every key is
// selected and compared by identity, each group g keeps a partial state S(g), a Z-set sum over
// its input rows r with weight w(r):
//   n(g) = Σ w,  c_a(g) = Σ w·[a counts r],  s_a(g) = Σ w·x_a(r)·[a counts r]
// so S_new(g) = S_old(g) + S(ΔX|g): linear, no unchanged row is read. The outputs are the select
// list over S (AVG = numeric_div(s, c) as PostgreSQL's final functions; SUM of int2/int4 as int8,
// NULL when c = 0), HAVING as a filter; a group with n = 0 has no row (without GROUP BY the one
// row always exists). What addition cannot keep exact marks the group dirty, and its state is
// rebuilt from X_new|g (the same sum over the group's rows): for numeric, the display scale of a
// sum is the largest input scale, kept with the count of inputs at that scale, and the group is
// dirty when that count falls to 0 (the scale may drop: 1.5 + 2 = 3.5, without 1.5 it is 2) or
// an input is NaN/±Infinity; for MIN (MAX), when a deleted value is <= (>=) the stored extreme.
// Float sums (not associative), other aggregates, keys whose "=" is not identity (numeric,
// float, citext, nondeterministic collations) keep the affected-group recomputation.
#include "bridge/deparse.hpp"
#include "bridge/guard.hpp"
#include "ivm/algebraic.hpp"
#include "ivm/ops.hpp"
#include "ivm/sql.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
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
			// A key that is the column of a one-row subquery (a decorrelated scalar in HAVING,
			// which joins the GROUP BY) has one value in each evaluation: its group shows the same
			// value whatever order the rows are read in.
			key_single_.push_back(PgCall([&] {
				if (!IsA(e, Var) || ((Var *)e)->varlevelsup != 0) {
					return false;
				}
				RangeTblEntry *rte = rt_fetch(((Var *)e)->varno, q->rtable);
				return rte->rtekind == RTE_SUBQUERY && OneRowAggregate(rte->subquery);
			}));
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
		plain_grouping_ = q->distinctClause == NIL && q->groupingSets == NIL &&
		                  q->constraintDeps == NIL && q->setOperations == nullptr;
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

	bool Algebraic(AlgebraicPlan *plan) override;

  protected:
	std::string Generate(Mode mode) override {
		if (mode != Mode::kDelta) {
			std::string whole = Over(ParseOne(Bag(*children[0], mode)));
			if (m_ == 0) {
				// One row (no GROUP BY: a decorrelated scalar subquery, joined to every row of
				// its level): computed once per statement, where a nested loop would re-aggregate
				// its whole input per outer row (TPC-H Q22: 653 × 15,000 customers).
				return "SELECT * FROM (WITH __pgt_one AS MATERIALIZED (\n" + whole +
				       "\n) SELECT * FROM __pgt_one) AS __pgt_o";
			}
			return whole;
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
			                                  key_cols, k, key_columns_, "", key_single_);
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

	bool plain_grouping_ = false;
	std::size_t m_ = 0;
	std::size_t input_width_ = 0;
	std::vector<int> key_outputs_;
	std::vector<Column> key_columns_;
	std::vector<bool> key_single_; // per key: one value per evaluation (see the constructor)
	Query *template_;
};

// ---- Algebraic maintenance (top level; see the rule in the header comment) ----

struct AggrefCollector {
	List *aggs;
};

// The distinct Aggrefs of the level (not descending into them). PG regime.
bool CollectAggrefs(::Node *node, AggrefCollector *c) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Aggref)) {
		ListCell *lc;
		foreach (lc, c->aggs) {
			if (equal(lfirst(lc), node)) {
				return false;
			}
		}
		c->aggs = lappend(c->aggs, node);
		return false;
	}
	return expression_tree_walker(node, (bool (*)())CollectAggrefs, c);
}

struct FinalMapper {
	List *keys; // grouping expressions (template's), key i -> column i + 1
	List *key_vars;
	List *aggs; // Aggrefs, aggregate j -> column nkeys + j + 1
	int nkeys;
};

// Replaces grouping expressions and aggregates by the columns of the state subquery. PG regime.
::Node *MapFinals(::Node *node, FinalMapper *m) {
	if (node == nullptr) {
		return nullptr;
	}
	ListCell *lc;
	ListCell *lv;
	forboth (lc, m->keys, lv, m->key_vars) {
		if (equal(lfirst(lc), node)) {
			return (::Node *)copyObjectImpl(lfirst(lv));
		}
	}
	if (IsA(node, Aggref)) {
		int j = 0;
		foreach (lc, m->aggs) {
			if (equal(lfirst(lc), node)) {
				Aggref *a = (Aggref *)node;
				return (::Node *)makeVar(1, (AttrNumber)(m->nkeys + j + 1), a->aggtype, -1,
				                         a->aggcollid, 0);
			}
			j++;
		}
		elog(ERROR, "pg_trickle: unmapped aggregate");
	}
	if (IsA(node, Var) && ((Var *)node)->varlevelsup == 0) {
		elog(ERROR, "pg_trickle: column outside the grouping keys");
	}
	return expression_tree_mutator(node, (::Node * (*)()) MapFinals, m);
}

// A grouping key whose "=" is binary identity (matching state rows and stored rows by "="
// is then exact): ImageKind kEquality, or char(n) under a deterministic collation (values are
// padded to n). C++ regime.
bool IdentityKey(const Column &c) {
	if (ImageKindOf(c.type, c.collation) == ImageKind::kEquality) {
		return true;
	}
	return PgCall([&] {
		return c.type == BPCHAROID && c.typmod > 0 && OidIsValid(c.collation) &&
		       get_collation_isdeterministic(c.collation);
	});
}

// The algebraic rule of one aggregate, or false. C++ regime.
bool ClassifyAggref(Aggref *a, AlgebraicAgg *out) {
	struct Info {
		bool plain;
		const char *name;
		int nargs;
		Oid arg;
		const char *arg_name;
	};
	Info info = PgCall([&] {
		Info i{};
		i.plain = a->agglevelsup == 0 && a->aggdistinct == NIL && a->aggorder == NIL &&
		          a->aggkind == AGGKIND_NORMAL && !a->aggvariadic &&
		          get_func_namespace(a->aggfnoid) == PG_CATALOG_NAMESPACE;
		i.name = get_func_name(a->aggfnoid);
		i.nargs = list_length(a->args);
		i.arg = i.nargs == 1 ? exprType((::Node *)((TargetEntry *)linitial(a->args))->expr)
		                     : InvalidOid;
		i.arg_name = OidIsValid(i.arg) ? format_type_be(i.arg) : "";
		return i;
	});
	if (!info.plain || info.name == nullptr) {
		return false;
	}
	std::string name = info.name;
	Oid arg = info.arg;
	if (name == "count" && a->aggstar) {
		out->kind = AggKind::kCount;
		out->text = "count(*)";
		out->state_type = "pg_catalog.numeric";
		return a->aggtype == INT8OID;
	}
	if (info.nargs != 1) {
		return false;
	}
	out->text = name + "(" + info.arg_name + ")";
	out->state_type = "pg_catalog.numeric";
	if (name == "count") {
		out->kind = AggKind::kCount;
		return a->aggtype == INT8OID;
	}
	if (name == "sum") {
		switch (arg) {
		case INT2OID:
		case INT4OID:
			out->kind = AggKind::kSumInt;
			return a->aggtype == INT8OID;
		case INT8OID:
			out->kind = AggKind::kSumInt8;
			return a->aggtype == NUMERICOID;
		case NUMERICOID:
			out->kind = AggKind::kSumNumeric;
			return a->aggtype == NUMERICOID;
		default:
			return false; // float (not associative), money, interval
		}
	}
	if (name == "avg") {
		switch (arg) {
		case INT2OID:
		case INT4OID:
		case INT8OID:
			out->kind = AggKind::kAvgInt;
			return a->aggtype == NUMERICOID;
		case NUMERICOID:
			out->kind = AggKind::kAvgNumeric;
			return a->aggtype == NUMERICOID;
		default:
			return false;
		}
	}
	if (name == "min" || name == "max") {
		switch (arg) {
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			// "=" is identity and there is no collation: ties are the same image.
			out->kind = name == "min" ? AggKind::kMin : AggKind::kMax;
			out->state_type = info.arg_name;
			return a->aggtype == arg;
		default:
			return false;
		}
	}
	return false;
}

// FNV-1a, stable across builds (names the state table).
std::string Fnv(const std::string &text) {
	std::uint64_t h = 1469598103934665603ULL;
	for (unsigned char c : text) {
		h ^= c;
		h *= 1099511628211ULL;
	}
	char buf[17];
	snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
	return buf;
}

} // namespace

bool Aggregate::Algebraic(AlgebraicPlan *plan) {
	if (kind() != "aggregate" || !plain_grouping_) {
		return false;
	}
	for (int pos : key_outputs_) {
		if (pos < 0) {
			return false;
		}
	}
	for (const auto &c : key_columns_) {
		if (!IdentityKey(c) || EqualityOperator(c.type).empty()) {
			return false;
		}
	}
	std::size_t n = columns.size();
	AggrefCollector collector{NIL};
	List *outputs = NIL;
	List *keys = NIL;
	bool ok = PgCall([&] {
		ListCell *lc;
		int i = 0;
		foreach (lc, template_->targetList) {
			if (static_cast<std::size_t>(i++) < n) {
				outputs = lappend(outputs, lfirst(lc));
			}
		}
		(void)CollectAggrefs((::Node *)outputs, &collector);
		(void)CollectAggrefs(template_->havingQual, &collector);
		foreach (lc, template_->groupClause) {
			keys = lappend(
			    keys, get_sortgroupclause_tle((SortGroupClause *)lfirst(lc), template_->targetList)
			              ->expr);
		}
		return list_length(keys) == static_cast<int>(m_);
	});
	if (!ok) {
		return false;
	}
	std::vector<AlgebraicAgg> aggs;
	std::vector<Aggref *> refs;
	ListCell *lc;
	foreach (lc, collector.aggs) {
		AlgebraicAgg agg;
		Aggref *a = (Aggref *)lfirst(lc);
		if (!ClassifyAggref(a, &agg)) {
			return false;
		}
		aggs.push_back(agg);
		refs.push_back(a);
	}
	if (aggs.empty()) {
		return false;
	}
	plan->nkeys = m_;
	plan->aggs = aggs;
	plan->key_outputs = key_outputs_;
	plan->key_types.clear();
	for (const auto &c : key_columns_) {
		plan->key_types.push_back(
		    PgCall([&] { return std::string(format_type_with_typemod(c.type, c.typmod)); }));
	}

	// The projection: keys, then (argument, filter) per aggregate, then the input's weight.
	Query *proj = PgCall([&] {
		Query *p = (Query *)copyObjectImpl(template_);
		List *tl = NIL;
		AttrNumber resno = 1;
		auto add = [&](::Node *e) {
			tl = lappend(tl, makeTargetEntry((Expr *)copyObjectImpl(e), resno,
			                                 psprintf("__pgt_c%d", resno), false));
			resno++;
		};
		ListCell *k;
		foreach (k, keys) {
			add((::Node *)lfirst(k));
		}
		for (Aggref *a : refs) {
			add(a->args != NIL ? (::Node *)((TargetEntry *)linitial(a->args))->expr
			                   : makeBoolConst(true, false));
			add(a->aggfilter != nullptr ? (::Node *)a->aggfilter : makeBoolConst(true, false));
		}
		tl = lappend(tl, makeTargetEntry((Expr *)makeVar(1, (AttrNumber)(input_width_ + 1), INT8OID,
		                                                 -1, InvalidOid, 0),
		                                 resno, pstrdup("__pgt_w"), false));
		p->targetList = tl;
		p->groupClause = NIL;
		p->havingQual = nullptr;
		p->hasAggs = false;
		p->distinctClause = NIL;
		p->sortClause = NIL;
		return p;
	});
	auto project = [&](Query *input) {
		Query *copy = (Query *)PgCall([&] { return copyObjectImpl(proj); });
		RangeTblEntry *rte = PgCall([&] { return rt_fetch(1, copy->rtable); });
		ReplaceRte(rte, input, input_width_, true);
		return Deparse(copy);
	};
	std::string w = Names(input_width_, false);
	plan->delta_projection = project(ParseOne("SELECT " + Names(input_width_, true, "d") +
	                                          " FROM " + From(*children[0], Mode::kDelta, "d")));
	// Rows of weight 1 (a bag): the state's fill and rebuild sum them without the weight
	// (delta/apply_algebraic.cpp, Summary with unit_weights).
	std::string bag = "SELECT f.*, 1::pg_catalog.int8 AS __pgt_w FROM (" +
	                  Bag(*children[0], Mode::kNew) + ") AS f(" + w + ")";
	plan->full_projection = project(ParseOne(bag));
	std::string dk = m_ == 0 ? "SELECT 1 AS __pgt_c1" : "";
	for (std::size_t i = 0; i < m_; i++) {
		dk += std::string(i ? ", " : "SELECT ") + "NULL::" + plan->key_types[i] + " AS __pgt_c" +
		      std::to_string(i + 1);
	}
	plan->dirty_projection = project(ParseInCteScope(
	    "__pgt_dk", dk, bag + " WHERE " + KeyPredicate("f", "__pgt_dk", key_columns_)));

	// The output: the select list over the state's final values.
	std::string ns = "SELECT ";
	std::string finals = "SELECT ";
	for (std::size_t i = 0; i < m_; i++) {
		std::string k = "__pgt_k" + std::to_string(i + 1);
		ns += "NULL::" + plan->key_types[i] + " AS " + k + ", ";
		finals += "ns." + k + " AS __pgt_c" + std::to_string(i + 1) + ", ";
	}
	ns += "NULL::pg_catalog.int8 AS __pgt_n";
	for (std::size_t j = 0; j < aggs.size(); j++) {
		std::string a = "__pgt_a" + std::to_string(j + 1);
		ns += ", NULL::pg_catalog.int8 AS " + a + "_c, NULL::" + aggs[j].state_type + " AS " + a +
		      "_s, NULL::pg_catalog.int4 AS " + a + "_sc, NULL::pg_catalog.int8 AS " + a + "_sn";
		std::string c = "ns." + a + "_c";
		std::string s = "ns." + a + "_s";
		std::string f;
		switch (aggs[j].kind) {
		case AggKind::kCount:
			f = c;
			break;
		case AggKind::kSumInt:
			f = s + "::pg_catalog.int8";
			break;
		case AggKind::kSumInt8:
		case AggKind::kSumNumeric:
		case AggKind::kMin:
		case AggKind::kMax:
			f = s;
			break;
		case AggKind::kAvgInt:
		case AggKind::kAvgNumeric:
			// numeric_div(sum, count), as int8_avg / numeric_poly_avg / numeric_avg
			f = s + " OPERATOR(pg_catalog./) " + c + "::pg_catalog.numeric";
			break;
		}
		finals += (j ? ", " : "") + f + " AS __pgt_c" + std::to_string(m_ + j + 1);
	}
	finals += " FROM __pgt_ns ns";
	Query *state = ParseInCteScope("__pgt_ns", ns, finals);
	Query *out = PgCall([&] {
		Query *o = (Query *)copyObjectImpl(template_);
		FinalMapper mapper{NIL, NIL, collector.aggs, static_cast<int>(m_)};
		int i = 0;
		ListCell *k;
		foreach (k, keys) {
			mapper.keys = lappend(mapper.keys, lfirst(k));
			const Column &c = key_columns_[static_cast<std::size_t>(i)];
			mapper.key_vars = lappend(
			    mapper.key_vars, makeVar(1, (AttrNumber)(i + 1), c.type, c.typmod, c.collation, 0));
			i++;
		}
		List *tl = NIL;
		ListCell *t;
		foreach (t, outputs) {
			TargetEntry *te = (TargetEntry *)copyObjectImpl(lfirst(t));
			te->expr = (Expr *)MapFinals((::Node *)te->expr, &mapper);
			te->ressortgroupref = 0;
			tl = lappend(tl, te);
		}
		o->targetList = tl;
		o->jointree->quals = MapFinals((::Node *)copyObjectImpl(template_->havingQual), &mapper);
		o->havingQual = nullptr;
		o->groupClause = NIL;
		o->hasAggs = false;
		o->distinctClause = NIL;
		o->sortClause = NIL;
		return o;
	});
	RangeTblEntry *rte = PgCall([&] { return rt_fetch(1, out->rtable); });
	ReplaceRte(rte, state, m_ + aggs.size(), false);
	plan->output_query = Deparse(out);

	std::string layout = "v1";
	for (const auto &t : plan->key_types) {
		layout += "|" + t;
	}
	for (const auto &a : aggs) {
		layout += "|" + std::to_string(static_cast<int>(a.kind)) + ":" + a.state_type;
	}
	// Not the delta projection: it depends on which sources changed in this refresh (quiet ones
	// read no buffer), while the state depends only on the layout and the query.
	plan->signature = Fnv(layout + "\n" + plan->full_projection + "\n" + plan->output_query);
	return true;
}

namespace {

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
