// Function checks of a defining query (see function_check.hpp).
#include "analyze/function_check.hpp"

#include "bridge/guard.hpp"
#include "bridge/spi.hpp"

extern "C" {
#include "postgres.h"
#include "access/transam.h"
#include "catalog/pg_proc.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
}

namespace pgtrickle::analyze {

namespace {

using bridge::PgCall;

// PG-regime walker state: plain C data only.
struct MutableState {
	Oid func;         // a non-IMMUTABLE function, or
	Oid op;           // a non-IMMUTABLE operator (with its function in func), or
	int sql_value_op; // a SQLValueFunction (SVFOP_*), -1 if none
	bool next_value;  // a sequence's next value (identity column default, never in a SELECT)
};

bool NonImmutableChecker(Oid func, void *context) {
	if (func_volatile(func) == PROVOLATILE_IMMUTABLE) {
		return false;
	}
	static_cast<MutableState *>(context)->func = func;
	return true;
}

bool MutableWalker(Node *node, MutableState *state) {
	if (node == NULL) {
		return false;
	}
	// Operators are reported as operators (the function behind "<" means little to a user).
	Oid opno = InvalidOid;
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr)) {
		opno = ((OpExpr *)node)->opno;
	} else if (IsA(node, ScalarArrayOpExpr)) {
		opno = ((ScalarArrayOpExpr *)node)->opno;
	}
	if (check_functions_in_node(node, NonImmutableChecker, state)) {
		state->op = opno;
		return true;
	}
	if (IsA(node, SQLValueFunction)) {
		state->sql_value_op = ((SQLValueFunction *)node)->op;
		return true;
	}
	if (IsA(node, NextValueExpr)) {
		state->next_value = true;
		return true;
	}
	if (IsA(node, Query)) {
		return query_tree_walker((Query *)node, (bool (*)())MutableWalker, state, 0);
	}
	return expression_tree_walker(node, (bool (*)())MutableWalker, state);
}

const char *SqlValueName(int op) {
	switch (op) {
	case SVFOP_CURRENT_DATE:
		return "CURRENT_DATE";
	case SVFOP_CURRENT_TIME:
	case SVFOP_CURRENT_TIME_N:
		return "CURRENT_TIME";
	case SVFOP_CURRENT_TIMESTAMP:
	case SVFOP_CURRENT_TIMESTAMP_N:
		return "CURRENT_TIMESTAMP";
	case SVFOP_LOCALTIME:
	case SVFOP_LOCALTIME_N:
		return "LOCALTIME";
	case SVFOP_LOCALTIMESTAMP:
	case SVFOP_LOCALTIMESTAMP_N:
		return "LOCALTIMESTAMP";
	case SVFOP_CURRENT_ROLE:
		return "CURRENT_ROLE";
	case SVFOP_CURRENT_USER:
		return "CURRENT_USER";
	case SVFOP_USER:
		return "USER";
	case SVFOP_SESSION_USER:
		return "SESSION_USER";
	case SVFOP_CURRENT_CATALOG:
		return "CURRENT_CATALOG";
	case SVFOP_CURRENT_SCHEMA:
		return "CURRENT_SCHEMA";
	}
	return "a SQL value function";
}

// User-defined functions (and operators' functions) called anywhere in a query tree.
bool CollectFunction(Oid func, void *context) {
	List **funcs = static_cast<List **>(context);
	if (func >= FirstNormalObjectId && !list_member_oid(*funcs, func)) {
		*funcs = lappend_oid(*funcs, func);
	}
	return false;
}

bool FunctionWalker(Node *node, List **funcs) {
	if (node == NULL) {
		return false;
	}
	(void)check_functions_in_node(node, CollectFunction, funcs);
	if (IsA(node, Query)) {
		return query_tree_walker((Query *)node, (bool (*)())FunctionWalker, funcs, 0);
	}
	return expression_tree_walker(node, (bool (*)())FunctionWalker, funcs);
}

struct RawNames {
	List *relations; // RangeVar nodes
	List *ctes;      // CTE names (char *)
};

bool RangeVarWalker(Node *node, RawNames *names) {
	if (node == NULL) {
		return false;
	}
	if (IsA(node, RangeVar)) {
		names->relations = lappend(names->relations, node);
	} else if (IsA(node, CommonTableExpr)) {
		names->ctes = lappend(names->ctes, ((CommonTableExpr *)node)->ctename);
	}
	return raw_expression_tree_walker(node, (bool (*)())RangeVarWalker, names);
}

// Tables named in the body of a LANGUAGE sql function ("" if none); nullopt if the body cannot
// be inspected (it does not parse, or holds a statement the walker does not know).
std::optional<std::string> TablesInSqlBody(const std::string &body) {
	std::string found;
	auto error = bridge::RunInSubtransaction([&] {
		const char *text = body.c_str();
		RawNames names{NIL, NIL};
		PgCall([&] {
			List *stmts = raw_parser(text, RAW_PARSE_DEFAULT);
			ListCell *lc;
			foreach (lc, stmts) {
				(void)RangeVarWalker(lfirst_node(RawStmt, lc)->stmt, &names);
			}
		});
		ListCell *lc;
		foreach (lc, names.relations) {
			RangeVar *rv = (RangeVar *)lfirst(lc);
			bool is_cte = false;
			ListCell *lc2;
			foreach (lc2, names.ctes) {
				is_cte = is_cte || (rv->schemaname == nullptr &&
				                    strcmp(rv->relname, (const char *)lfirst(lc2)) == 0);
			}
			if (is_cte) {
				continue;
			}
			std::string name = rv->schemaname ? std::string(rv->schemaname) + "." : std::string();
			name += rv->relname;
			if (found.find(name) == std::string::npos) {
				found += (found.empty() ? "" : ", ") + name;
			}
		}
	});
	if (error) {
		return std::nullopt;
	}
	return found;
}

Query *ParseRewritten(const std::string &sql) {
	const char *text = sql.c_str();
	return PgCall([&] {
		List *raw = raw_parser(text, RAW_PARSE_DEFAULT);
		Query *q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), text, NULL, 0, NULL);
		return linitial_node(Query, QueryRewrite(q));
	});
}

} // namespace

std::optional<std::string> FirstNonImmutable(Query *q) {
	MutableState state{InvalidOid, InvalidOid, -1, false};
	bool found = PgCall([&] { return MutableWalker((Node *)q, &state); });
	if (!found) {
		return std::nullopt;
	}
	if (state.next_value) {
		return std::string("the VOLATILE sequence function nextval()");
	}
	if (state.sql_value_op >= 0) {
		return std::string("the STABLE SQL value function ") + SqlValueName(state.sql_value_op);
	}
	char volatility = PgCall([&] { return func_volatile(state.func); });
	std::string kind = volatility == PROVOLATILE_VOLATILE ? "VOLATILE" : "STABLE";
	if (OidIsValid(state.op)) {
		return "the " + kind + " operator " +
		       std::string(PgCall([&] { return format_operator(state.op); }));
	}
	return "the " + kind + " function " +
	       std::string(PgCall([&] { return format_procedure(state.func); }));
}

std::optional<std::string> TimeDependence(const std::string &defining_query) {
	return FirstNonImmutable(ParseRewritten(defining_query));
}

std::vector<std::string> FunctionsReadingTables(const std::string &defining_query) {
	Query *q = ParseRewritten(defining_query);
	List *funcs = NIL;
	PgCall([&] { (void)FunctionWalker((Node *)q, &funcs); });
	std::vector<std::string> out;
	if (funcs == NIL) {
		return out;
	}
	std::string oids = "{";
	ListCell *lc;
	foreach (lc, funcs) {
		oids += (oids.size() > 1 ? "," : "") + std::to_string(lfirst_oid(lc));
	}
	oids += "}";
	// Column 3: relations a BEGIN ATOMIC body depends on; column 5: a plpgsql body mentions a
	// word that can introduce a table (conservative: "extract(year FROM d)" matches too).
	auto r = bridge::SpiExec(
	    "SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text, l.lanname, "
	    "p.prosqlbody IS NOT NULL, "
	    "(SELECT pg_catalog.string_agg(DISTINCT d.refobjid::pg_catalog.regclass::pg_catalog.text, "
	    "', ') FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog."
	    "regclass AND d.objid = p.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog."
	    "regclass), "
	    "p.prosrc, p.prosrc OPERATOR(pg_catalog.~*) '\\m(from|join|table|execute)\\M' "
	    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang "
	    "WHERE p.oid = ANY ($1::pg_catalog.oid[]) ORDER BY 1",
	    {oids});
	for (const auto &row : r.rows) {
		std::string name = row[0].value_or("?");
		std::string language = row[1].value_or("");
		if (language == "internal" || language == "c") {
			continue;
		}
		if (language == "sql") {
			std::optional<std::string> tables;
			if (row[2].value_or("f") == "t") {
				tables = row[3].value_or("");
			} else {
				tables = TablesInSqlBody(row[4].value_or(""));
			}
			if (!tables) {
				out.push_back(name + " (LANGUAGE sql; its body could not be inspected)");
			} else if (!tables->empty()) {
				out.push_back(name + " (LANGUAGE sql; reads " + *tables + ")");
			}
		} else if (language == "plpgsql") {
			if (row[5].value_or("f") == "t") {
				out.push_back(name + " (LANGUAGE plpgsql; its body may run queries)");
			}
		} else {
			out.push_back(name + " (LANGUAGE " + language + "; its body cannot be inspected)");
		}
	}
	return out;
}

void WarnHiddenDependencies(const std::string &defining_query, const std::string &display_name) {
	for (const std::string &function : FunctionsReadingTables(defining_query)) {
		std::string message = "stream table " + display_name + " calls function " + function +
		                      ", whose table reads are not tracked";
		const char *msg = message.c_str();
		PgCall([&] {
			ereport(
			    WARNING,
			    (errcode(ERRCODE_WARNING), errmsg("%s", msg),
			     errdetail("Changes to tables read inside a function body neither trigger a "
			               "refresh nor reach a DIFFERENTIAL refresh; the stream table can keep "
			               "stale rows."),
			     errhint("Join those tables in the defining query itself, or refresh FULL on "
			             "a schedule.")));
		});
	}
}

} // namespace pgtrickle::analyze
