// See deparse.hpp.
#include "bridge/deparse.hpp"

#include "bridge/guard.hpp"

#include <cctype>

extern "C" {
#include "postgres.h"
#include "nodes/makefuncs.h"
#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "utils/ruleutils.h"
}

namespace pgtrickle::bridge {

std::string DeparseQuery(const Query *q) {
	std::string sql = PgCall([&] {
		Query *copy = static_cast<Query *>(copyObjectImpl(q));
		if (list_length(copy->rtable) == 1) {
			// ruleutils qualifies column references when the range table has more than one entry
			// (deparse_context.varprefix). An entry no part of the query refers to, and that is not
			// in the FROM list, changes nothing else in the printed text.
			RangeTblEntry *unused = makeNode(RangeTblEntry);
			unused->rtekind = RTE_RESULT;
			unused->eref = makeAlias("__pgt_unused", NIL);
			unused->inFromCl = false;
			copy->rtable = lappend(copy->rtable, unused);
		}
		return pg_get_querydef(copy, false);
	});
	std::size_t start = sql.find_first_not_of(" \n\t");
	sql = start == std::string::npos ? std::string() : sql.substr(start);
	while (!sql.empty() && (sql.back() == ';' || isspace(static_cast<unsigned char>(sql.back())))) {
		sql.pop_back();
	}
	return sql;
}

} // namespace pgtrickle::bridge
