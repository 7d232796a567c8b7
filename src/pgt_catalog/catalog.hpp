// Reading and writing pg_trickle's catalog tables (pgtrickle.pgt_*) through SPI.
// Reads run as the caller (the catalog is readable by PUBLIC); writes run as the extension owner.
#pragma once

#include "core/dag.hpp"
#include "core/options.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::catalog {

using TimestampUs = std::int64_t; // microseconds since the Unix epoch

// Whether the catalog has pgt_stream_tables.needs_rebind (added by 0.2.0, for restores). The
// library also serves a 0.1.0 catalog between the installation of a new package and ALTER
// EXTENSION pg_trickle UPDATE. Syscache lookups only. May raise.
bool HasRebindColumn();
// The same, PG regime (raises as PostgreSQL does; for C-regime callers such as triggers).
bool RebindColumnExists();

struct Dependency {
	Oid relid;
	std::string type; // TABLE, STREAM_TABLE, VIEW, MATVIEW, FOREIGN_TABLE
};

struct StreamTable {
	std::int64_t pgt_id = 0;
	Oid relid = InvalidOid;
	Oid owner = InvalidOid;
	std::string schema; // current names, from pg_class
	std::string name;
	std::string defining_query;
	std::string original_query;
	std::string defining_tree; // nodeToString of the analyzed query
	std::string column_list;   // quoted output columns in query order, for INSERT lists
	std::string schedule;
	core::RefreshMode mode = core::RefreshMode::kAuto;
	core::StStatus status = core::StStatus::kInitializing;
	bool is_populated = false;
	bool needs_reinit = false;
	// Why the next refresh rebuilds (needs_reinit), and when that was last requested: a refresh
	// clears only the request it read (see catalog::RecordSuccess).
	std::optional<std::string> reinit_reason;
	std::optional<TimestampUs> reinit_requested_at;
	int consecutive_errors = 0;
	core::DiamondConsistency consistency = core::DiamondConsistency::kAtomic;
	core::SchedulePolicy policy = core::SchedulePolicy::kFastest;
	std::int64_t group_epoch = 0;
	std::optional<TimestampUs> data_timestamp;
	std::optional<TimestampUs> last_refresh_at;
	std::optional<TimestampUs> last_error_at;
	std::vector<Dependency> deps;
	// Relations under this table's VIEW sources (recursively), which the DAG treats as direct
	// sources so that a diamond through a view is detected.
	std::vector<Oid> through_views;

	// schema.name, each part quoted when needed (for messages).
	std::string Display() const;
	// Quoted qualified name for SQL text.
	std::string Qualified() const;
};

// Every stream table with its dependencies, ordered by pgt_id. C++ regime; needs SPI.
std::vector<StreamTable> LoadAll();
std::optional<StreamTable> LoadByRelid(Oid relid);
std::optional<StreamTable> LoadById(std::int64_t pgt_id);

// Resolves a relation name the way PostgreSQL does (search_path for unqualified names) and
// returns the stream table, or throws 42P01 "stream table ... does not exist".
StreamTable Resolve(const std::string &name);
// The same, with only the identity filled in (pgt_id, relid, owner, schema, name; the rest keeps
// its defaults): for a caller that reads the full row again later anyway (a manual refresh, which
// must re-read its members after its snapshot: refresh::RefreshUnit).
StreamTable ResolveIdentity(const std::string &name);

// Marks a stream table for a full rebuild on its next refresh (needs_reinit) and records why
// (explain_st shows it). Every rebuild request goes through here: the request time it stamps is
// what lets a refresh tell a request it consumed from one made after it read the catalog. A
// pending request keeps its earlier reasons. Runs as the extension owner. C++ regime; needs SPI.
void RequestReinit(std::int64_t pgt_id, const std::string &reason);

// Core DAG input built from catalog rows.
std::vector<core::StNode> ToDagNodes(const std::vector<StreamTable> &tables);

// Dependency type of a relation as stored in pgt_dependencies.
std::string SourceType(Oid relid, char relkind);

// SQL of a recursive CTE `under(key, relid)`: starting from the (key, view oid) pairs that `seed`
// returns, every relation those views read through their rewrite rules, recursively (views
// included; the caller filters by relkind).
std::string UnderViewsCte(const std::string &seed);

std::string FormatTimestamp(TimestampUs ts); // ISO text, for messages and SQL parameters
TimestampUs NowUs();

} // namespace pgtrickle::catalog
