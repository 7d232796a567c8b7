// Thin C++ wrapper over SPI: text parameters in, text values out, errors as core::Error.
// Callers connect once per entry point (SpiScope) and pass SQL with $n parameters (never pasted
// user strings); identifiers are quoted with QuoteIdent / QualifiedName.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "utils/snapshot.h"
}

namespace pgtrickle::bridge {

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

struct SpiResult {
	std::vector<Row> rows;
	std::uint64_t processed = 0;

	// Value of row r, column c, or the fallback if the result has no such value or it is NULL.
	std::string Get(std::size_t r, std::size_t c, const std::string &fallback = {}) const;
};

struct SpiOptions {
	bool read_only = false;
	// When set, every statement runs on this snapshot (with its command id advanced so that the
	// statement sees earlier writes of the same transaction): all refreshes of one group read
	// their sources as of one instant.
	Snapshot snapshot = nullptr;
	long limit = 0;
	// Keep the statement's plan for the rest of the session (SPI_keepplan), keyed by its text:
	// for fixed catalog statements run on every refresh, whose planning costs more than their
	// execution. PostgreSQL's plan cache replans after DDL on what they read or a search_path
	// change. Never for SQL holding user text or for utility statements.
	bool cache_plan = false;
};

// Runs one SQL statement; parameters are passed as text ($1::bigint etc. in the SQL).
// C++ regime (throws core::Error). Requires an SPI connection.
SpiResult SpiExec(const std::string &sql, const std::vector<Value> &args = {},
                  const SpiOptions &options = {});

// PostgreSQL's estimate of one statement, planned as SpiExec would plan it (its text parameters
// bound as constants, so the planner sees their values) but not run.
struct PlanEstimate {
	double cost = 0; // total cost of the plan (its init plans and CTEs included)
	double rows = 0; // rows the statement returns (its top plan node)
};
PlanEstimate EstimateStatement(const std::string &sql, const std::vector<Value> &args = {});

// The planner's cpu_tuple_cost setting.
double CpuTupleCost();

// SpiOptions with cache_plan set.
inline SpiOptions CachedPlan() {
	SpiOptions options;
	options.cache_plan = true;
	return options;
}

// Connects SPI for the lifetime of the scope. The destructor disconnects only on the normal path;
// on error, PostgreSQL's (sub)transaction abort cleans the connection up.
class SpiScope {
  public:
	SpiScope();
	~SpiScope();
	SpiScope(const SpiScope &) = delete;
	SpiScope &operator=(const SpiScope &) = delete;

  private:
	int uncaught_;
};

std::string QuoteIdent(const std::string &ident);
std::string QuoteLiteral(const std::string &literal);
std::string QualifiedName(const std::string &schema, const std::string &name);

// The longest prefix of `name` of at most max_bytes bytes that ends on a character boundary in
// the database encoding (never splits a multibyte character, so the catalog never holds invalid
// text). Used wherever a name is built from a user's name plus a suffix.
std::string ClipName(const std::string &name, int max_bytes);

// Runs f in a transaction of its own, with an active snapshot and an SPI connection, and commits
// (background worker code, called outside any transaction). C++ regime.
void InTransaction(const std::function<void()> &f);

} // namespace pgtrickle::bridge
