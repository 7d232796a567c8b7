// Argument and result helpers shared by the SQL-callable functions.
#pragma once

#include "bridge/guard.hpp"

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

namespace pgtrickle::api {

// Text argument i, or nullopt for SQL NULL.
std::optional<std::string> TextArg(FunctionCallInfo fcinfo, int i);
// Text argument that must not be NULL (22004 "<what> must not be null" otherwise).
std::string RequiredTextArg(FunctionCallInfo fcinfo, int i, const char *what);
std::optional<bool> BoolArg(FunctionCallInfo fcinfo, int i);
std::optional<int> IntArg(FunctionCallInfo fcinfo, int i);

// Result rows of a set-returning function, each value as text (nullopt = NULL) converted with
// the column types' input functions.
using TextRow = std::vector<std::optional<std::string>>;
Datum ReturnRows(FunctionCallInfo fcinfo, const std::vector<TextRow> &rows);

} // namespace pgtrickle::api
