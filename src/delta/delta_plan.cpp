// DIFFERENTIAL planning by query-tree substitution (see delta_plan.hpp).
//
// The defining query is parsed, analyzed and rewritten (views become subqueries). Each variant of
// the delta sum is a copy of that tree in which every leaf relation is replaced by a subquery
// producing the leaf's new, old or delta rows with a weight column, and every query level gains a
// weight output (the product of its inputs' weights). PostgreSQL's deparser turns each variant back
// into SQL, so every expression of the original query is printed by PostgreSQL itself.
#include "delta/delta_plan.hpp"

#include "analyze/function_check.hpp"
#include "analyze/query_analysis.hpp"
#include "bridge/guard.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "access/relation.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "parser/parser.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace pgtrickle::delta {

namespace {

using bridge::PgCall;
using bridge::QuoteIdent;

struct Unsupported {
	std::string reason;
};

[[noreturn]] void Reject(const std::string &reason) {
	throw Unsupported{reason};
}

Query *ParseOne(const std::string &sql) {
	const char *text = sql.c_str();
	return PgCall([&] {
		List *raw = raw_parser(text, RAW_PARSE_DEFAULT);
		// $1..$3: the frontier, passed as text by the refresh (see capture::PendingPredicate).
		static Oid param_types[3] = {TEXTOID, TEXTOID, TEXTOID};
		Query *q =
		    parse_analyze_fixedparams(linitial_node(RawStmt, raw), text, param_types, 3, NULL);
		List *rewritten = QueryRewrite(q);
		return linitial_node(Query, rewritten);
	});
}

// PG-regime walker state for the column references DIFFERENTIAL cannot carry.
struct ColumnRefState {
	bool system_column; // xmin, ctid, tableoid, ...: properties of a stored tuple, not of a row
	bool whole_row;     // "t" or "t.*" as one value: the leaf substitution changes its row type
};

bool ColumnRefWalker(Node *node, ColumnRefState *state) {
	if (node == NULL) {
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

// Checks what the whole query tree (every level, views expanded) must not contain.
void CheckWholeQuery(Query *top) {
	// A non-IMMUTABLE function can change its result while no source changes (now(), a
	// function reading another table, a setting): no delta would ever say so.
	if (auto what = analyze::FirstNonImmutable(top)) {
		Reject(*what + " (only IMMUTABLE functions give the same result for the same rows)");
	}
	ColumnRefState refs{false, false};
	PgCall([&] { (void)ColumnRefWalker((Node *)top, &refs); });
	if (refs.system_column) {
		Reject("system columns (xmin, ctid, tableoid, ...)");
	}
	if (refs.whole_row) {
		Reject("whole-row references to a table or view (such as \"SELECT t FROM t\" or "
		       "\"count(t.*)\")");
	}
}

// Checks one select-project-join level (and, recursively, the view subqueries it reads).
void CheckSpj(Query *q, bool top) {
	if (q->hasWindowFuncs) {
		Reject("window functions");
	}
	if (q->hasTargetSRFs) {
		Reject("set-returning functions in the select list");
	}
	if (q->hasSubLinks) {
		Reject("subqueries in expressions (IN/EXISTS/scalar subqueries)");
	}
	if (q->cteList != NIL) {
		Reject("WITH (common table expressions)");
	}
	if (q->limitCount != nullptr || q->limitOffset != nullptr) {
		Reject("LIMIT/OFFSET");
	}
	if (q->setOperations != nullptr) {
		Reject("set operations other than a top-level UNION ALL");
	}
	if (!top && (q->hasAggs || q->groupClause != NIL || q->distinctClause != NIL ||
	             q->havingQual != nullptr)) {
		Reject("aggregation or DISTINCT below the top level of the query");
	}
	if (q->hasDistinctOn) {
		Reject("DISTINCT ON");
	}
	if (q->groupingSets != NIL) {
		Reject("GROUPING SETS/ROLLUP/CUBE");
	}
	int rtindex = 0;
	ListCell *lc;
	foreach (lc, q->rtable) {
		rtindex++;
		RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
		switch (rte->rtekind) {
		case RTE_RELATION:
			if (rte->relkind == RELKIND_VIEW) {
				break; // the rewriter's permission-check copy of an expanded view: never scanned
			}
			if (rte->relkind == RELKIND_RELATION && rte->inh &&
			    PgCall([&] { return has_subclass(rte->relid); })) {
				Reject("tables with inheritance children (their changes are not captured)");
			}
			if (rte->tablesample != nullptr) {
				Reject("TABLESAMPLE (the sample depends on where rows are stored, not on their "
				       "values)");
			}
			if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE) {
				Reject(rte->relkind == RELKIND_MATVIEW ? "materialized views as sources"
				                                       : "foreign tables as sources");
			}
			break;
		case RTE_SUBQUERY:
			CheckSpj(rte->subquery, false);
			break;
		case RTE_JOIN:
			if (rte->jointype != JOIN_INNER) {
				Reject("outer joins (LEFT/RIGHT/FULL JOIN)");
			}
			break;
		default:
			Reject("FROM items other than tables, views and inner joins (functions, VALUES, "
			       "LATERAL)");
		}
	}
}

// The default equality operator of `type` as OPERATOR(schema.name), or "" if it has none.
std::string EqualityOperator(Oid type) {
	const char *text = PgCall([&]() -> const char * {
		Oid opr = lookup_type_cache(type, TYPECACHE_EQ_OPR)->eq_opr;
		if (!OidIsValid(opr)) {
			return "";
		}
		HeapTuple tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));
		if (!HeapTupleIsValid(tuple)) {
			elog(ERROR, "cache lookup failed for operator %u", opr);
		}
		Form_pg_operator form = (Form_pg_operator)GETSTRUCT(tuple);
		char *out =
		    psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
		             NameStr(form->oprname));
		ReleaseSysCache(tuple);
		return out;
	});
	return text;
}

// Attribute layout of a leaf relation: one entry per attnum (dropped columns included).
struct LeafColumns {
	std::string select_list; // "c1, c2, NULL::int AS __pgt_dropped_3, ..."
	List *names;             // String nodes for eref->colnames (plus weight)
};

LeafColumns ColumnsOf(Oid relid, const char *alias) {
	LeafColumns out{{}, NIL};
	PgCall([&] {
		Relation rel = relation_open(relid, AccessShareLock);
		TupleDesc desc = RelationGetDescr(rel);
		for (int i = 0; i < desc->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, i);
			const char *name = NameStr(att->attname);
			out.names = lappend(out.names, makeString(pstrdup(att->attisdropped ? "" : name)));
		}
		relation_close(rel, AccessShareLock);
	});
	std::vector<std::string> parts;
	int natts = list_length(out.names);
	for (int i = 0; i < natts; i++) {
		const char *name = strVal(list_nth(out.names, i));
		if (name[0] == '\0') {
			parts.push_back("NULL::pg_catalog.int4 AS __pgt_dropped_" + std::to_string(i + 1));
		} else {
			parts.push_back(std::string(alias) + "." + QuoteIdent(name));
		}
	}
	for (std::size_t i = 0; i < parts.size(); i++) {
		out.select_list += (i ? ", " : "") + parts[i];
	}
	out.names = lappend(out.names, makeString(pstrdup("__pgt_w")));
	return out;
}

// A column list followed by more columns: "a, b, " (nothing for a table without columns).
std::string Prefix(const std::string &list) {
	return list.empty() ? list : list + ", ";
}

// How NetByIdentity tells the values of a column apart (its type's "=" is not always identity).
enum class ImageKind {
	kEquality, // "=" is binary identity: integers, bool, date/time, uuid, bytea, and text under
	           // a deterministic collation (compared with memcmp)
	kNumeric,  // "=" and the same display scale (1.0 = 1.00)
	kFloat4,   // "=" and the same bits (0 = -0)
	kFloat8,
	kBytewise, // text under a nondeterministic collation: "=" and the same bytes
	kOther,    // anything else (arrays, composites, json, citext, interval, ...)
};

// PG regime.
ImageKind ImageKindOf(Oid type, Oid collation) {
	switch (getBaseType(type)) {
	case INT2OID:
	case INT4OID:
	case INT8OID:
	case OIDOID:
	case BOOLOID:
	case CHAROID:
	case DATEOID:
	case TIMEOID:
	case TIMESTAMPOID:
	case TIMESTAMPTZOID:
	case UUIDOID:
	case BYTEAOID:
		return ImageKind::kEquality;
	case NUMERICOID:
		return ImageKind::kNumeric;
	case FLOAT4OID:
		return ImageKind::kFloat4;
	case FLOAT8OID:
		return ImageKind::kFloat8;
	case TEXTOID:
	case VARCHAROID:
		if (!OidIsValid(collation)) {
			return ImageKind::kOther;
		}
		return get_collation_isdeterministic(collation) ? ImageKind::kEquality
		                                                : ImageKind::kBytewise;
	default:
		return ImageKind::kOther;
	}
}

// Sums the weights (column __pgt_w) of the rows of `rows` per identical row and keeps the rows
// whose net weight is not 0. "Identical" is binary identity of every column (NULLs equal), never
// the types' "=": 1.0 and 1.00, 'a' and 'A' under a case-insensitive collation, 0 and -0 stay
// apart. When every column's kind is known, a GROUP BY on the columns refined by what "=" misses
// (numeric scale, float bits, the bytes of a string) does it by hashing; otherwise the rows are
// sorted by record image (`*<`, which works for every type, with or without equality) and
// rank() = row_number() picks one row per peer group, whose frame sum is its net weight.
std::string NetByIdentity(const std::string &rows, const std::vector<std::string> &cols,
                          const std::vector<ImageKind> &kinds) {
	std::string x_cols;
	std::string n_cols;
	std::string group_by;
	bool hashable = !cols.empty() && kinds.size() == cols.size();
	for (std::size_t i = 0; i < cols.size(); i++) {
		std::string x = std::string("x.") + cols[i];
		x_cols += (i ? ", " : "") + x;
		n_cols += (i ? ", " : "") + std::string("n.") + cols[i];
		group_by += (i ? ", " : "") + x;
		switch (hashable ? kinds[i] : ImageKind::kOther) {
		case ImageKind::kEquality:
			break;
		case ImageKind::kNumeric:
			group_by += ", pg_catalog.scale(" + x + ")";
			break;
		case ImageKind::kFloat4:
			group_by += ", pg_catalog.float4send(" + x + ")";
			break;
		case ImageKind::kFloat8:
			group_by += ", pg_catalog.float8send(" + x + ")";
			break;
		case ImageKind::kBytewise:
			group_by += ", (" + x + " COLLATE \"C\")";
			break;
		case ImageKind::kOther:
			hashable = false;
			break;
		}
	}
	if (hashable) {
		return "SELECT " + n_cols + ", n.__pgt_w FROM (SELECT " + x_cols +
		       ", pg_catalog.sum(x.__pgt_w)::pg_catalog.int8 AS __pgt_w FROM (" + rows +
		       ") x GROUP BY " + group_by + ") n WHERE n.__pgt_w <> 0";
	}
	return "SELECT " + Prefix(n_cols) + "n.__pgt_w FROM (SELECT " + Prefix(x_cols) +
	       "(pg_catalog.sum(x.__pgt_w) OVER __pgt_p)::pg_catalog.int8 AS __pgt_w, "
	       "pg_catalog.rank() OVER __pgt_p AS __pgt_rank, pg_catalog.row_number() OVER __pgt_p "
	       "AS __pgt_row FROM (" +
	       rows + ") x WINDOW __pgt_p AS (ORDER BY ROW(" + x_cols +
	       ") USING OPERATOR(pg_catalog.*<) RANGE BETWEEN CURRENT ROW AND CURRENT ROW)) n "
	       "WHERE n.__pgt_rank = n.__pgt_row AND n.__pgt_w <> 0";
}

enum class LeafMode { kNew, kOld, kDelta };

// Output name of attribute i in a LeafColumns select list (dropped columns get a placeholder).
std::string AliasOf(List *names, std::size_t i) {
	const char *name = strVal(list_nth(names, static_cast<int>(i)));
	return name[0] == '\0' ? "__pgt_dropped_" + std::to_string(i + 1) : std::string(name);
}

std::string LeafSql(Oid relid, LeafMode mode) {
	std::string rel = PgCall([&] {
		return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
		                                  get_rel_name(relid));
	});
	if (!capture::BufferOf(relid)) {
		Reject("a source without change capture");
	}
	LeafColumns r = ColumnsOf(relid, "r");
	LeafColumns b = ColumnsOf(relid, "b");
	// Pending changes come through pgtrickle._pending_changes(), which checks the reader's
	// privileges on the source; its column list is the buffer's (live source columns).
	// Each live column with its type, typmod and collation (a pending 'A' must compare like the
	// table's 'A' under a case-insensitive collation, not under the type's default), named as
	// the storage columns are (analyze::StorageColumns).
	std::string coldefs = "__pgt_xid pg_catalog.xid8, __pgt_action pg_catalog.\"char\"";
	for (const auto &column : analyze::StorageColumns(relid)) {
		coldefs += ", " + QuoteIdent(column.name) + " " + column.type_sql;
	}
	std::string changes = "pgtrickle._pending_changes(" + std::to_string(relid) +
	                      "::pg_catalog.oid, $1, $2, $3) AS b(" + coldefs + ")";
	std::string new_sql =
	    "SELECT " + Prefix(r.select_list) + "1::pg_catalog.int8 AS __pgt_w FROM " + rel + " r";
	// Changes are netted per row first (NetByIdentity): a row inserted and then fixed (or
	// deleted) before the refresh cancels out and its values are never evaluated by the query's
	// expressions (which could fail on them, e.g. a division by zero), while an update that
	// changes only a value's representation (1.0 -> 1.00, 'a' -> 'A' under a case-insensitive
	// collation) stays a delete and an insert.
	std::vector<ImageKind> kinds;
	PgCall([&] {
		Relation rel_handle = relation_open(relid, AccessShareLock);
		TupleDesc desc = RelationGetDescr(rel_handle);
		for (int i = 0; i < desc->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, i);
			kinds.push_back(att->attisdropped ? ImageKind::kEquality // NULL::int4 placeholder
			                                  : ImageKindOf(att->atttypid, att->attcollation));
		}
		relation_close(rel_handle, AccessShareLock);
	});
	auto weighted = [&](const char *insert_weight, const char *delete_weight) {
		std::string rows = "SELECT " + Prefix(b.select_list) +
		                   "CASE b.__pgt_action WHEN 'I' THEN " + insert_weight +
		                   "::pg_catalog.int8 ELSE " + delete_weight +
		                   "::pg_catalog.int8 END AS __pgt_w FROM " + changes +
		                   " WHERE b.__pgt_action IN ('I', 'D')";
		std::size_t natts = static_cast<std::size_t>(list_length(b.names) - 1);
		std::vector<std::string> cols;
		for (std::size_t i = 0; i < natts; i++) {
			cols.push_back(QuoteIdent(AliasOf(b.names, i)));
		}
		return NetByIdentity(rows, cols, kinds);
	};
	switch (mode) {
	case LeafMode::kNew:
		return new_sql;
	case LeafMode::kDelta:
		return weighted("1", "-1");
	case LeafMode::kOld:
		break;
	}
	// old = new − Δ
	return new_sql + " UNION ALL " + weighted("-1", "1");
}

// Leaf relations in a fixed walk order (rtable order, recursing into subqueries).
void CollectLeaves(Query *q, std::vector<Oid> *leaves) {
	ListCell *lc;
	foreach (lc, q->rtable) {
		RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
		if (rte->rtekind == RTE_RELATION && rte->relkind != RELKIND_VIEW) {
			leaves->push_back(rte->relid);
		} else if (rte->rtekind == RTE_SUBQUERY) {
			CollectLeaves(rte->subquery, leaves);
		}
	}
}

Node *WeightProduct(Node *acc, Node *factor) {
	if (acc == nullptr) {
		return factor;
	}
	return (Node *)makeFuncExpr(F_INT8MUL, INT8OID, list_make2(acc, factor), InvalidOid, InvalidOid,
	                            COERCE_EXPLICIT_CALL);
}

// Substitutes the leaves of q (walk order, *next counts them) for variant `variant` and appends a
// weight column to q's target list. Returns the weight column's attno.
AttrNumber Substitute(Query *q, int variant, int *next) {
	Node *weight = nullptr;
	int rtindex = 0;
	ListCell *lc;
	foreach (lc, q->rtable) {
		rtindex++;
		RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
		AttrNumber wattno = 0;
		if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_VIEW) {
			continue; // permission-check copy of an expanded view (not in the join tree)
		}
		if (rte->rtekind == RTE_RELATION) {
			int leaf = (*next)++;
			LeafMode mode = leaf < variant    ? LeafMode::kNew
			                : leaf == variant ? LeafMode::kDelta
			                                  : LeafMode::kOld;
			Oid relid = rte->relid;
			Query *sub = ParseOne(LeafSql(relid, mode));
			LeafColumns cols = ColumnsOf(relid, "r");
			rte->rtekind = RTE_SUBQUERY;
			rte->subquery = sub;
			rte->relid = InvalidOid;
			rte->relkind = 0;
			rte->rellockmode = 0;
			rte->inh = false;
			rte->requiredPerms = 0;
			rte->checkAsUser = InvalidOid;
			rte->selectedCols = nullptr;
			rte->eref->colnames = cols.names;
			wattno = list_length(cols.names);
		} else if (rte->rtekind == RTE_SUBQUERY) {
			wattno = Substitute(rte->subquery, variant, next);
			PgCall([&] {
				rte->eref->colnames = lappend(rte->eref->colnames, makeString(pstrdup("__pgt_w")));
			});
		} else {
			continue;
		}
		PgCall([&] {
			Var *var = makeVar(rtindex, wattno, INT8OID, -1, InvalidOid, 0);
			weight = WeightProduct(weight, (Node *)var);
		});
	}
	AttrNumber resno = list_length(q->targetList) + 1;
	PgCall([&] {
		if (weight == nullptr) {
			weight = (Node *)makeConst(INT8OID, -1, InvalidOid, 8, Int64GetDatum(1), false, true);
		}
		q->targetList = lappend(q->targetList,
		                        makeTargetEntry((Expr *)weight, resno, pstrdup("__pgt_w"), false));
	});
	return resno;
}

// Keeps only the listed target entries (renumbered), dropping resjunk ones.
void KeepTargets(Query *q, const std::vector<int> &keep) {
	List *tl = NIL;
	AttrNumber resno = 1;
	for (int index : keep) {
		PgCall([&] {
			TargetEntry *te = (TargetEntry *)copyObjectImpl(list_nth(q->targetList, index));
			te->resno = resno++;
			te->ressortgroupref = 0;
			te->resjunk = false;
			tl = lappend(tl, te);
		});
	}
	q->targetList = tl;
}

std::string Deparse(Query *q) {
	return std::string(PgCall([&] { return pg_get_querydef(q, false); }));
}

std::string ColumnAliases(std::size_t n, bool weight) {
	std::string out;
	for (std::size_t i = 0; i < n; i++) {
		out += (i ? ", " : "") + std::string("__pgt_c") + std::to_string(i + 1);
	}
	if (weight) {
		out += ", __pgt_w";
	}
	return out;
}

} // namespace

DeltaPlan PlanDelta(const std::string &defining_query) {
	DeltaPlan plan;
	Query *top = ParseOne(defining_query);
	std::vector<int> outputs; // non-junk target entries of the top query
	{
		int i = 0;
		ListCell *lc;
		foreach (lc, top->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (!te->resjunk) {
				outputs.push_back(i);
				Oid type = exprType((Node *)te->expr);
				int32 typmod = exprTypmod((Node *)te->expr);
				plan.column_names.push_back(te->resname ? te->resname : "?column?");
				plan.column_types.push_back(
				    PgCall([&] { return format_type_with_typemod(type, typmod); }));
			}
			i++;
		}
	}
	try {
		CheckWholeQuery(top);
		// Branches: the top query itself, or the leaves of a top-level UNION ALL.
		std::vector<Query *> branches;
		bool grouped = top->hasAggs || top->groupClause != NIL || top->distinctClause != NIL ||
		               top->havingQual != nullptr;
		if (top->setOperations != nullptr) {
			std::vector<Node *> stack{top->setOperations};
			std::vector<Node *> leaves;
			while (!stack.empty()) {
				Node *n = stack.back();
				stack.pop_back();
				if (IsA(n, SetOperationStmt)) {
					auto *op = (SetOperationStmt *)n;
					if (op->op != SETOP_UNION || !op->all) {
						Reject("UNION (without ALL), INTERSECT and EXCEPT");
					}
					stack.push_back(op->rarg);
					stack.push_back(op->larg);
				} else {
					leaves.push_back(n);
				}
			}
			for (Node *n : leaves) {
				auto *ref = (RangeTblRef *)n;
				RangeTblEntry *rte = rt_fetch(ref->rtindex, top->rtable);
				CheckSpj(rte->subquery, false);
				branches.push_back(rte->subquery);
			}
			if (top->sortClause != NIL || top->limitCount != nullptr) {
				Reject("ORDER BY/LIMIT on a UNION ALL");
			}
		} else {
			CheckSpj(top, true);
			branches.push_back(top);
		}

		// Keys of grouped queries: the GROUP BY expressions (or every column for DISTINCT),
		// which must be output columns so that a group can be found in the storage table.
		std::vector<int> keep;
		if (grouped) {
			plan.shape = Shape::kGroups;
			if (top->distinctClause != NIL && top->groupClause == NIL && !top->hasAggs) {
				for (std::size_t i = 0; i < outputs.size(); i++) {
					plan.key_columns.push_back(static_cast<int>(i));
				}
			} else {
				ListCell *lc;
				foreach (lc, top->groupClause) {
					SortGroupClause *sgc = (SortGroupClause *)lfirst(lc);
					TargetEntry *te = get_sortgroupclause_tle(sgc, top->targetList);
					if (te->resjunk) {
						Reject("GROUP BY expressions that are not in the select list");
					}
					int pos = static_cast<int>(
					    std::find(outputs.begin(), outputs.end(), te->resno - 1) - outputs.begin());
					plan.key_columns.push_back(pos);
				}
				if (plan.key_columns.empty()) {
					Reject("aggregates without GROUP BY (a single global group)");
				}
			}
			for (int k : plan.key_columns) {
				keep.push_back(outputs[k]);
				TargetEntry *te = (TargetEntry *)list_nth(top->targetList, outputs[k]);
				Oid type = exprType((Node *)te->expr);
				if (PgCall([&] { return type_is_array(type); })) {
					Reject("array-typed GROUP BY/DISTINCT columns");
				}
			}
		} else {
			plan.shape = Shape::kRows;
		}
		// Rows are matched by identity (record_image_eq), which works for every type; the first
		// column's "=" (when it has one) narrows the search to its index.
		for (std::size_t i = 0; i < outputs.size(); i++) {
			TargetEntry *te = (TargetEntry *)list_nth(top->targetList, outputs[i]);
			Oid type = exprType((Node *)te->expr);
			plan.eq_operators.push_back(EqualityOperator(type));
		}
		plan.first_column_has_eq = !plan.eq_operators[0].empty();
		for (int k : plan.key_columns) {
			if (plan.eq_operators[static_cast<std::size_t>(k)].empty()) {
				Reject("GROUP BY/DISTINCT keys of a type without equality");
			}
		}

		std::vector<std::string> variants;
		for (Query *branch : branches) {
			std::vector<Oid> leaves;
			CollectLeaves(branch, &leaves);
			plan.leaves.insert(plan.leaves.end(), leaves.begin(), leaves.end());
			for (std::size_t v = 0; v < leaves.size(); v++) {
				Query *copy = (Query *)PgCall([&] { return copyObjectImpl(branch); });
				if (grouped) {
					copy->hasAggs = false;
					copy->groupClause = NIL;
					copy->havingQual = nullptr;
					copy->distinctClause = NIL;
					KeepTargets(copy, keep);
				} else {
					std::vector<int> all;
					int i = 0;
					ListCell *lc;
					foreach (lc, copy->targetList) {
						if (!((TargetEntry *)lfirst(lc))->resjunk) {
							all.push_back(i);
						}
						i++;
					}
					KeepTargets(copy, all);
				}
				copy->sortClause = NIL;
				int next = 0;
				Substitute(copy, static_cast<int>(v), &next);
				variants.push_back(Deparse(copy));
			}
		}
		if (variants.empty()) {
			Reject("a query without source tables");
		}
		std::string all_variants;
		for (std::size_t i = 0; i < variants.size(); i++) {
			all_variants += (i ? "\nUNION ALL\n" : "") + variants[i];
		}
		std::size_t n = grouped ? plan.key_columns.size() : outputs.size();
		std::string cols = ColumnAliases(n, false);
		if (grouped) {
			plan.delta_sql = "SELECT DISTINCT " + cols + " FROM (\n" + all_variants + "\n) AS v(" +
			                 ColumnAliases(n, true) + ")";
		} else {
			std::vector<std::string> names;
			std::vector<ImageKind> kinds;
			for (std::size_t i = 0; i < n; i++) {
				names.push_back("__pgt_c" + std::to_string(i + 1));
				Node *expr = (Node *)((TargetEntry *)list_nth(top->targetList, outputs[i]))->expr;
				kinds.push_back(
				    PgCall([&] { return ImageKindOf(exprType(expr), exprCollation(expr)); }));
			}
			plan.delta_sql = NetByIdentity("SELECT * FROM (\n" + all_variants + "\n) AS v(" +
			                                   ColumnAliases(n, true) + ")",
			                               names, kinds);
		}
	} catch (const Unsupported &u) {
		plan.shape = Shape::kUnsupported;
		plan.reason = u.reason;
		plan.delta_sql.clear();
	}
	return plan;
}

} // namespace pgtrickle::delta
