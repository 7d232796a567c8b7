// Defining-query analysis (see query_analysis.hpp).
#include "analyze/query_analysis.hpp"

#include "bridge/deparse.hpp"
#include "bridge/guard.hpp"
#include "bridge/search_path.hpp"
#include "bridge/spi.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "access/relation.h"
#include "access/sysattr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/readfuncs.h"
#include "utils/rel.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
}

namespace pgtrickle::analyze {

namespace {

using bridge::PgCall;

// PG-regime walker state: plain C data only.
struct WalkState {
	List *relids;  // Oid list, may repeat
	List *columns; // "relid/attname" strings of the columns read
	bool has_row_marks;
};

bool CollectWalker(Node *node, WalkState *state) {
	if (node == NULL) {
		return false;
	}
	if (IsA(node, Query)) {
		Query *q = (Query *)node;
		if (q->rowMarks != NIL) {
			state->has_row_marks = true;
		}
		ListCell *lc;
		foreach (lc, q->rtable) {
			RangeTblEntry *rte = (RangeTblEntry *)lfirst(lc);
			if (rte->rtekind == RTE_RELATION) {
				state->relids = lappend_oid(state->relids, rte->relid);
				// selectedCols: the columns the query reads (what SELECT privilege is checked on).
				int x = -1;
				while ((x = bms_next_member(rte->selectedCols, x)) >= 0) {
					AttrNumber attno = x + FirstLowInvalidHeapAttributeNumber;
					if (attno == 0) {
						Relation rel = relation_open(rte->relid, AccessShareLock);
						TupleDesc desc = RelationGetDescr(rel);
						for (int i = 0; i < desc->natts; i++) {
							if (!TupleDescAttr(desc, i)->attisdropped) {
								state->columns =
								    lappend(state->columns,
								            psprintf("%u/%s", rte->relid,
								                     NameStr(TupleDescAttr(desc, i)->attname)));
							}
						}
						relation_close(rel, AccessShareLock);
					} else if (attno > 0) {
						state->columns = lappend(
						    state->columns,
						    psprintf("%u/%s", rte->relid, get_attname(rte->relid, attno, false)));
					}
				}
			}
		}
		return query_tree_walker(q, (bool (*)())CollectWalker, state, 0);
	}
	return expression_tree_walker(node, (bool (*)())CollectWalker, state);
}

struct RawState {
	List *rangevars;
	List *cte_names;
};

bool RawWalker(Node *node, RawState *state) {
	if (node == NULL) {
		return false;
	}
	if (IsA(node, RangeVar)) {
		state->rangevars = lappend(state->rangevars, node);
	} else if (IsA(node, CommonTableExpr)) {
		state->cte_names = lappend(state->cte_names, ((CommonTableExpr *)node)->ctename);
	}
	return raw_expression_tree_walker(node, (bool (*)())RawWalker, state);
}

// Error context callback while PostgreSQL parses and analyzes the user's query text: a syntax
// error position refers to that text, not to the client's statement (which is the call of
// create_stream_table), so it is reported as an internal position with the text as internal
// query, the way PL/pgSQL reports errors in its SQL statements (psql prints LINE n and a caret
// under the user's query).
void QueryTextErrorCallback(void *arg) {
	int position = geterrposition();
	if (position > 0) {
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *)arg);
	}
}

// Runs fn (PG regime) with QueryTextErrorCallback installed for `text`. PG_TRY in the call guard
// restores error_context_stack if fn raises.
template <typename F> auto WithQueryText(const char *text, F &&fn) {
	return PgCall([&] {
		ErrorContextCallback callback;
		callback.callback = QueryTextErrorCallback;
		callback.arg = (void *)text;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		auto result = fn();
		error_context_stack = callback.previous;
		return result;
	});
}

[[noreturn]] void Fail(const char *sqlstate, const std::string &message,
                       const std::string &hint = {}) {
	throw core::Error(sqlstate, message, {}, hint);
}

} // namespace

AnalyzedQuery AnalyzeQuery(const std::string &query, const std::string &self_schema,
                           const std::string &self_name) {
	const char *sql = query.c_str();
	List *raw = WithQueryText(sql, [&] { return raw_parser(sql, RAW_PARSE_DEFAULT); });
	if (list_length(raw) != 1) {
		Fail("42601", "query must be a single SELECT statement",
		     "Remove the other statements; a stream table is defined by one query.");
	}
	RawStmt *rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt)) {
		Fail("0A000", "query must be a SELECT statement",
		     "Stream tables are defined by a SELECT (or VALUES / set operation) query.");
	}
	SelectStmt *select = (SelectStmt *)rawstmt->stmt;
	if (select->intoClause != nullptr) {
		Fail("0A000", "SELECT INTO is not allowed in a stream table query");
	}

	AnalyzedQuery result;

	// A reference to the stream table being created cannot resolve yet: report it as the
	// self-cycle it is rather than as a missing relation.
	RawState raw_state{NIL, NIL};
	PgCall([&] { RawWalker(rawstmt->stmt, &raw_state); });
	ListCell *lc;
	foreach (lc, raw_state.rangevars) {
		RangeVar *rv = (RangeVar *)lfirst(lc);
		if (self_name != rv->relname) {
			continue;
		}
		if (rv->schemaname != nullptr && self_schema != rv->schemaname) {
			continue;
		}
		bool is_cte = false;
		ListCell *lc2;
		foreach (lc2, raw_state.cte_names) {
			if (self_name == (const char *)lfirst(lc2)) {
				is_cte = true;
			}
		}
		Oid existing = PgCall([&] { return RangeVarGetRelid(rv, NoLock, true); });
		if (!is_cte && !OidIsValid(existing)) {
			Fail(core::kSqlstateInvalidObjectDefinition,
			     "cycle detected in dependency graph: " + self_schema + "." + self_name + " -> " +
			         self_schema + "." + self_name,
			     "A stream table cannot read itself.");
		}
	}

	Query *analyzed =
	    WithQueryText(sql, [&] { return parse_analyze_fixedparams(rawstmt, sql, NULL, 0, NULL); });
	if (analyzed->commandType != CMD_SELECT || analyzed->utilityStmt != nullptr) {
		Fail("0A000", "query must be a SELECT statement");
	}
	if (analyzed->hasModifyingCTE) {
		Fail("0A000", "data-modifying statements in WITH are not allowed in a stream table query");
	}
	WalkState walk{NIL, NIL, false};
	PgCall([&] { CollectWalker((Node *)analyzed, &walk); });
	if (walk.has_row_marks) {
		Fail("0A000", "FOR UPDATE/FOR SHARE is not allowed in a stream table query",
		     "Remove the locking clause; refreshes only read their sources.");
	}

	foreach (lc, walk.relids) {
		Oid relid = lfirst_oid(lc);
		if (std::any_of(result.sources.begin(), result.sources.end(),
		                [&](const SourceRelation &s) { return s.relid == relid; })) {
			continue;
		}
		char relkind = PgCall([&] { return get_rel_relkind(relid); });
		char persistence = PgCall([&] { return get_rel_persistence(relid); });
		if (persistence == RELPERSISTENCE_TEMP) {
			const char *relname = PgCall([&] { return get_rel_name(relid); });
			Fail("0A000",
			     std::string("stream tables cannot read temporary table \"") + relname + "\"",
			     "The scheduler runs in its own session, where temporary tables are not visible.");
		}
		result.sources.push_back(SourceRelation{relid, relkind, {}});
	}
	foreach (lc, walk.columns) {
		std::string entry = (const char *)lfirst(lc);
		std::size_t slash = entry.find('/');
		Oid relid = static_cast<Oid>(std::stoul(entry.substr(0, slash)));
		std::string column = entry.substr(slash + 1);
		for (auto &source : result.sources) {
			if (source.relid == relid && std::find(source.columns.begin(), source.columns.end(),
			                                       column) == source.columns.end()) {
				source.columns.push_back(column);
			}
		}
	}

	// Types and collations are named as the storage table's CREATE TABLE (run under the pinned
	// search_path) resolves them: a composite type or a collation in a user schema comes out
	// schema-qualified.
	std::optional<bridge::PinnedSearchPath> pin_types;
	pin_types.emplace();
	foreach (lc, analyzed->targetList) {
		TargetEntry *te = (TargetEntry *)lfirst(lc);
		if (te->resjunk) {
			continue;
		}
		Node *expr = (Node *)te->expr;
		Oid type = PgCall([&] { return exprType(expr); });
		int32 typmod = PgCall([&] { return exprTypmod(expr); });
		Oid collation = PgCall([&] { return exprCollation(expr); });
		OutputColumn column;
		column.name = te->resname ? te->resname : "?column?";
		if (column.name.rfind("__pgt_", 0) == 0) {
			Fail("42939", "column name \"" + column.name + "\" is reserved for pg_trickle",
			     "Rename the column in the query; names starting with __pgt_ are internal.");
		}
		column.type_sql = TypeSql(type, typmod, collation);
		result.columns.push_back(std::move(column));
	}
	pin_types.reset();
	if (result.columns.empty()) {
		Fail("42P16", "stream table query must return at least one column");
	}

	// Store the query as PostgreSQL deparses it with only pg_catalog on the search_path: every
	// other name comes out schema-qualified, so the query means the same whoever runs it later
	// (the scheduler has its own search_path), exactly like a view's stored definition.
	result.tree = PgCall([&] { return nodeToString(analyzed); });
	result.text = DeparseTree(result.tree);
	bridge::PinnedSearchPath pin;

	// Planning and starting the stored query as the caller checks every privilege it needs,
	// including through views, exactly as running it would.
	bridge::SpiExec("SELECT * FROM (\n" + result.text + "\n) AS __pgt_check LIMIT 0", {},
	                bridge::SpiOptions{true, nullptr, 0});
	return result;
}

std::string TypeSql(Oid type, int typmod, Oid collation) {
	std::string out = PgCall([&] { return format_type_with_typemod(type, typmod); });
	Oid default_collation = PgCall([&] { return get_typcollation(type); });
	if (OidIsValid(collation) && collation != default_collation) {
		out +=
		    std::string(" COLLATE ") + PgCall([&] { return generate_collation_name(collation); });
	}
	return out;
}

std::vector<OutputColumn> StorageColumns(Oid relid) {
	bridge::PinnedSearchPath pin;
	struct Att {
		char *name;
		Oid type;
		int typmod;
		Oid collation;
	};
	List *atts = PgCall([&] {
		List *out = NIL;
		Relation rel = relation_open(relid, AccessShareLock);
		TupleDesc desc = RelationGetDescr(rel);
		for (int i = 0; i < desc->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, i);
			if (att->attisdropped) {
				continue;
			}
			Att *a = (Att *)palloc(sizeof(Att));
			a->name = pstrdup(NameStr(att->attname));
			a->type = att->atttypid;
			a->typmod = att->atttypmod;
			a->collation = att->attcollation;
			out = lappend(out, a);
		}
		relation_close(rel, AccessShareLock);
		return out;
	});
	std::vector<OutputColumn> columns;
	ListCell *lc;
	foreach (lc, atts) {
		const Att *a = (const Att *)lfirst(lc);
		columns.push_back(OutputColumn{a->name, TypeSql(a->type, a->typmod, a->collation)});
	}
	return columns;
}

std::string DeparseTree(const std::string &tree) {
	bridge::PinnedSearchPath pin;
	const char *text = tree.c_str();
	Query *q = PgCall([&] { return (Query *)stringToNode(text); });
	return bridge::DeparseQuery(q);
}

} // namespace pgtrickle::analyze
