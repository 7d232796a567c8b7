// The one way the extension prints a Query as SQL: PostgreSQL's deparser (pg_get_querydef), with
// every column reference qualified by its range table entry.
//
// pg_get_querydef leaves column references unqualified when the query has a single range table
// entry. Printed unqualified, `SELECT w.b AS a, w.a AS b FROM t w ORDER BY a` becomes
// `... ORDER BY b`, and ORDER BY (and DISTINCT ON) resolve a bare name to an OUTPUT column first:
// the re-parsed text sorts by the other column. DeparseQuery therefore always qualifies.
#pragma once

#include <string>

struct Query; // nodes/parsenodes.h

namespace pgtrickle::bridge {

// The SQL text of q (not modified), without a trailing semicolon or surrounding white space.
std::string DeparseQuery(const Query *q);

} // namespace pgtrickle::bridge
