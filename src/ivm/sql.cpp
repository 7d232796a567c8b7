// SQL building blocks shared by the operators (see sql.hpp).
#include "ivm/sql.hpp"

#include "bridge/deparse.hpp"
#include "bridge/guard.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace pgtrickle::ivm {

using bridge::PgCall;

void Reject(const std::string &reason) {
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

Query *ParseInCteScope(const std::string &cte_name, const std::string &cte_sql,
                       const std::string &body) {
	Query *wrapper = ParseOne("WITH " + cte_name + " AS MATERIALIZED (\n" + cte_sql +
	                          "\n) SELECT * FROM (\n" + body + "\n) AS __pgt_s");
	return PgCall([&] { return rt_fetch(1, wrapper->rtable)->subquery; });
}

std::string Deparse(Query *q) {
	return bridge::DeparseQuery(q);
}

std::string Names(std::size_t n, bool weight, const std::string &alias) {
	std::string out;
	std::string a = alias.empty() ? "" : alias + ".";
	for (std::size_t i = 0; i < n; i++) {
		out += (i ? ", " : "") + a + "__pgt_c" + std::to_string(i + 1);
	}
	if (weight) {
		out += (n ? ", " : "") + a + "__pgt_w";
	}
	return out;
}

std::string From(Op &node, Mode mode, const std::string &alias) {
	return "(\n" + node.Sql(mode) + "\n) AS " + alias + "(" + Names(node.columns.size(), true) +
	       ")";
}

std::string Prefix(const std::string &list) {
	return list.empty() ? list : list + ", ";
}

ImageKind ImageKindOf(Oid type, Oid collation) {
	return PgCall([&] {
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
	});
}

std::vector<ImageKind> KindsOf(const std::vector<Column> &columns) {
	std::vector<ImageKind> kinds;
	for (const auto &c : columns) {
		kinds.push_back(ImageKindOf(c.type, c.collation));
	}
	return kinds;
}

// When every column's kind is known, a GROUP BY on the columns refined by what "=" misses
// (numeric scale, float bits, the bytes of a string) nets by hashing; otherwise the rows are
// sorted by record image (`*<`, which works for every type, with or without equality) and
// a flag rank() = row_number() picks one row per peer group, whose frame sum is its net weight.
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
	if (cols.empty()) {
		return "SELECT n.__pgt_w FROM (SELECT pg_catalog.sum(x.__pgt_w)::pg_catalog.int8 AS "
		       "__pgt_w FROM (" +
		       rows + ") x) n WHERE n.__pgt_w <> 0";
	}
	// Partitioned by the columns whose "=" is at least as coarse as identity (every kind but
	// kOther): the peer groups stay within partitions, and PostgreSQL pushes a filter on a
	// partition column (an affected-key restriction) below the window, onto the source's index,
	// instead of netting the whole input first.
	std::string partition;
	for (std::size_t i = 0; i < cols.size() && kinds.size() == cols.size(); i++) {
		if (kinds[i] != ImageKind::kOther) {
			partition += (partition.empty() ? "PARTITION BY " : ", ") + std::string("x.") + cols[i];
		}
	}
	return "SELECT " + Prefix(n_cols) + "n.__pgt_w FROM (SELECT " + Prefix(x_cols) +
	       "(pg_catalog.sum(x.__pgt_w) OVER __pgt_p)::pg_catalog.int8 AS __pgt_w, "
	       "(pg_catalog.rank() OVER __pgt_p = pg_catalog.row_number() OVER __pgt_p) AS "
	       "__pgt_first FROM (" +
	       rows + ") x WINDOW __pgt_p AS (" + partition + " ORDER BY ROW(" + x_cols +
	       ") USING OPERATOR(pg_catalog.*<) RANGE BETWEEN CURRENT ROW AND CURRENT ROW)) n "
	       // One flag, not "rank = row_number": the planner estimates an equality of two
	       // columns without statistics at 0.5 % of the rows, a boolean column at half.
	       "WHERE n.__pgt_first AND n.__pgt_w <> 0";
}

std::string Consolidate(Op &node, Mode mode) {
	std::size_t n = node.columns.size();
	std::vector<std::string> cols;
	for (std::size_t i = 0; i < n; i++) {
		cols.push_back("__pgt_c" + std::to_string(i + 1));
	}
	return NetByIdentity("SELECT * FROM " + From(node, mode, "c"), cols, KindsOf(node.columns));
}

std::string Bag(Op &node, Mode mode) {
	std::size_t n = node.columns.size();
	if (mode != Mode::kDelta && node.Unit(mode)) {
		return "SELECT " + Names(n, false, "b") + " FROM " + From(node, mode, "b");
	}
	if (mode == Mode::kOld && node.Changes()) {
		std::string unit = node.UnitOldSql();
		if (!unit.empty()) {
			return "SELECT " + Names(n, false, "b") + " FROM (" + unit + ") AS b";
		}
	}
	// Rows with a positive net weight, each as many times (generate_series(1, w) is empty for
	// w <= 0).
	return "SELECT " + Names(n, false, "n") + " FROM (" + Consolidate(node, mode) +
	       ") n CROSS JOIN LATERAL pg_catalog.generate_series(1, n.__pgt_w) AS __pgt_g";
}

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

std::string KeyPredicate(const std::string &alias, const std::string &k,
                         const std::vector<Column> &key_types) {
	std::vector<std::string> cols;
	for (std::size_t i = 0; i < key_types.size(); i++) {
		cols.push_back(alias + ".__pgt_c" + std::to_string(i + 1));
	}
	return KeyPredicateOn(cols, k, key_types);
}

std::string KeyPredicateOn(const std::vector<std::string> &row_cols, const std::string &k,
                           const std::vector<Column> &key_types) {
	std::string where = "EXISTS (SELECT 1 FROM " + k + ")";
	for (std::size_t i = 0; i < key_types.size(); i++) {
		std::string op = EqualityOperator(key_types[i].type);
		if (op.empty()) {
			Reject("grouping or join keys of a type without equality");
		}
		bool array = PgCall([&] { return type_is_array(key_types[i].type); });
		std::string name = "__pgt_c" + std::to_string(i + 1);
		const std::string &col = row_cols[i];
		std::string key = k + "." + name;
		if (array) {
			where += " AND EXISTS (SELECT 1 FROM " + k + " WHERE " + key + " " + op + " " + col +
			         " OR (" + key + " IS NULL AND " + col + " IS NULL))";
		} else {
			where += " AND (" + col + " " + op + " ANY (ARRAY(SELECT " + key + " FROM " + k +
			         " WHERE " + key + " IS NOT NULL)) OR (" + col +
			         " IS NULL AND EXISTS (SELECT 1 FROM " + k + " WHERE " + key + " IS NULL)))";
		}
	}
	return where;
}

std::string RestrictToKeys(const std::string &from, const std::vector<std::string> &row_cols,
                           const std::string &k, const std::vector<Column> &key_types,
                           const std::string &extra, const std::vector<bool> &single) {
	std::string full = KeyPredicateOn(row_cols, k, key_types);
	if (!extra.empty()) {
		full += " AND (" + extra + ")";
	}
	// One branch when there are no keys (the one group: k is not empty) and when a key's "=" is
	// not identity (numeric 1.0 = 1.00, a case-insensitive text): the value a group shows is
	// then its first row's, and the two-branch plan may read the group's rows in another order
	// than the query does.
	bool identity = !key_types.empty();
	for (std::size_t i = 0; i < key_types.size(); i++) {
		identity = identity && (ImageKindOf(key_types[i].type, key_types[i].collation) ==
		                            ImageKind::kEquality ||
		                        (i < single.size() && single[i]));
	}
	if (!identity) {
		return "SELECT f.* FROM " + from + " WHERE " + full;
	}
	std::string non_null =
	    "EXISTS (SELECT 1 FROM " + k + ")" + (extra.empty() ? "" : " AND (" + extra + ")");
	std::string some_null_key;
	std::string some_null_row;
	for (std::size_t i = 0; i < key_types.size(); i++) {
		if (PgCall([&] { return type_is_array(key_types[i].type); })) {
			return "SELECT f.* FROM " + from + " WHERE " + full; // compared by EXISTS already
		}
		std::string key = k + ".__pgt_c" + std::to_string(i + 1);
		non_null += " AND " + row_cols[i] + " " + EqualityOperator(key_types[i].type) +
		            " ANY (ARRAY(SELECT " + key + " FROM " + k + " WHERE " + key + " IS NOT NULL))";
		some_null_key += std::string(i ? " OR " : "") + key + " IS NULL";
		some_null_row += std::string(i ? " OR " : "") + row_cols[i] + " IS NULL";
	}
	return "SELECT f.* FROM " + from + " WHERE " + non_null + "\nUNION ALL\nSELECT f.* FROM " +
	       from + " WHERE EXISTS (SELECT 1 FROM " + k + " WHERE " + some_null_key + ") AND (" +
	       some_null_row + ") AND " + full;
}

void ReplaceRte(RangeTblEntry *rte, Query *sub, std::size_t ncols, bool weight) {
	PgCall([&] {
		List *names = NIL;
		for (std::size_t i = 0; i < ncols; i++) {
			names = lappend(names, makeString(psprintf("__pgt_c%d", static_cast<int>(i + 1))));
		}
		if (weight) {
			names = lappend(names, makeString(pstrdup("__pgt_w")));
		}
		rte->rtekind = RTE_SUBQUERY;
		rte->subquery = sub;
		rte->relid = InvalidOid;
		rte->relkind = 0;
		rte->rellockmode = 0;
		rte->inh = false;
		rte->tablesample = nullptr;
		rte->requiredPerms = 0;
		rte->checkAsUser = InvalidOid;
		rte->selectedCols = nullptr;
		rte->insertedCols = nullptr;
		rte->updatedCols = nullptr;
		rte->extraUpdatedCols = nullptr;
		rte->ctename = nullptr;
		rte->ctelevelsup = 0;
		rte->self_reference = false;
		rte->coltypes = NIL;
		rte->coltypmods = NIL;
		rte->colcollations = NIL;
		rte->lateral = false;
		rte->eref = makeAlias(rte->eref->aliasname, names);
		if (rte->alias != nullptr) {
			rte->alias = makeAlias(rte->alias->aliasname, NIL);
		}
	});
}

void ShapeTargets(Query *q, ::Node *weight, bool keep_junk) {
	PgCall([&] {
		List *plain = NIL;
		List *junk = NIL;
		ListCell *lc;
		int n = 0;
		foreach (lc, q->targetList) {
			TargetEntry *te = (TargetEntry *)lfirst(lc);
			if (!te->resjunk) {
				te->resname = psprintf("__pgt_c%d", ++n);
				plain = lappend(plain, te);
			} else if (keep_junk) {
				junk = lappend(junk, te);
			}
		}
		if (weight != nullptr) {
			plain = lappend(plain, makeTargetEntry((Expr *)weight, 0, pstrdup("__pgt_w"), false));
		}
		List *all = list_concat(plain, junk);
		AttrNumber resno = 1;
		foreach (lc, all) {
			((TargetEntry *)lfirst(lc))->resno = resno++;
		}
		q->targetList = all;
	});
}

std::vector<Column> OutputColumns(Query *q) {
	std::vector<Column> out;
	ListCell *lc;
	foreach (lc, q->targetList) {
		TargetEntry *te = (TargetEntry *)lfirst(lc);
		if (te->resjunk) {
			continue;
		}
		Column c;
		c.name = te->resname ? te->resname : "?column?";
		PgCall([&] {
			c.type = exprType((::Node *)te->expr);
			c.typmod = exprTypmod((::Node *)te->expr);
			c.collation = exprCollation((::Node *)te->expr);
		});
		out.push_back(c);
	}
	return out;
}

::Node *Int8Const(int64 v) {
	return PgCall([&] {
		return (::Node *)makeConst(INT8OID, -1, InvalidOid, 8, Int64GetDatum(v), false, true);
	});
}

bool CollectVars(::Node *node, VarCollector *c) {
	if (node == nullptr) {
		return false;
	}
	if (IsA(node, Var)) {
		Var *v = (Var *)node;
		if (v->varlevelsup != 0) {
			return false;
		}
		ListCell *lc;
		foreach (lc, c->vars) {
			Var *w = (Var *)lfirst(lc);
			if (w->varno == v->varno && w->varattno == v->varattno) {
				return false;
			}
		}
		c->vars = lappend(c->vars, v);
		return false;
	}
	return expression_tree_walker(node, (bool (*)())CollectVars, c);
}

::Node *MapVars(::Node *node, VarMapper *m) {
	if (node == nullptr) {
		return nullptr;
	}
	if (IsA(node, Var) && ((Var *)node)->varlevelsup == 0) {
		Var *v = (Var *)node;
		int i = 0;
		ListCell *lc;
		foreach (lc, m->vars) {
			Var *w = (Var *)lfirst(lc);
			if (w->varno == v->varno && w->varattno == v->varattno) {
				return (::Node *)makeVar(1, (AttrNumber)(m->offset + i + 1), v->vartype,
				                         v->vartypmod, v->varcollid, 0);
			}
			i++;
		}
		elog(ERROR, "pg_trickle: unmapped column reference");
	}
	return expression_tree_mutator(node, (::Node * (*)()) MapVars, m);
}

Query *SingleInputLevel(Query *q, List *vars, int offset) {
	Query *qa = PgCall([&] {
		VarMapper mapper{vars, offset};
		Query *out = makeNode(Query);
		out->commandType = CMD_SELECT;
		out->querySource = QSRC_ORIGINAL;
		out->canSetTag = true;
		RangeTblEntry *rte = makeNode(RangeTblEntry);
		rte->rtekind = RTE_SUBQUERY;
		rte->alias = makeAlias("__pgt_in", NIL);
		rte->eref = makeAlias("__pgt_in", NIL);
		rte->inFromCl = true;
		out->rtable = list_make1(rte);
		RangeTblRef *ref = makeNode(RangeTblRef);
		ref->rtindex = 1;
		out->jointree = makeFromExpr(list_make1(ref), nullptr);
		out->targetList = (List *)MapVars((::Node *)copyObjectImpl(q->targetList), &mapper);
		out->havingQual = MapVars((::Node *)copyObjectImpl(q->havingQual), &mapper);
		out->groupClause = (List *)copyObjectImpl(q->groupClause);
		out->distinctClause = (List *)copyObjectImpl(q->distinctClause);
		out->hasAggs = q->hasAggs;
		return out;
	});
	ShapeTargets(qa, Int8Const(1), true);
	return qa;
}

} // namespace pgtrickle::ivm
