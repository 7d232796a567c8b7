// What the functions a defining query calls mean for maintaining it: whether their results can
// change while the tables the query reads do not (non-IMMUTABLE functions: DIFFERENTIAL cannot
// maintain the query), and whether they read tables the stream table does not know about.
#pragma once

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "nodes/parsenodes.h"
}

namespace pgtrickle::analyze {

// The first function, operator or SQL value function (CURRENT_DATE, CURRENT_USER, ...) anywhere
// in q (every query level: subqueries, expanded views, set-operation branches) that is not
// IMMUTABLE, described for a message, e.g. "the STABLE function now()". nullopt if there is
// none. C++ regime.
std::optional<std::string> FirstNonImmutable(Query *q);

// FirstNonImmutable of the parsed and rewritten defining query: why its result can change while
// its sources do not (such a query is never skipped as "no new data"). C++ regime.
std::optional<std::string> TimeDependence(const std::string &defining_query);

// User-defined functions called anywhere in the (parsed and rewritten) defining query whose body
// may read tables, one description each (e.g. "public.price_of(integer) (LANGUAGE sql, reads
// public.prices)"). The check is one level deep: functions called by those functions are not
// inspected. LANGUAGE sql: the parsed body (or, for BEGIN ATOMIC bodies, pg_depend); plpgsql: a
// conservative textual check (FROM, JOIN, TABLE, EXECUTE in the source); other procedural
// languages: always reported; C and internal functions: never. C++ regime; needs SPI.
std::vector<std::string> FunctionsReadingTables(const std::string &defining_query);

// Emits one WARNING per function of FunctionsReadingTables(defining_query): changes to the
// tables they read do not reach the stream table. C++ regime; needs SPI.
void WarnHiddenDependencies(const std::string &defining_query, const std::string &display_name);

} // namespace pgtrickle::analyze
