// The refresh unit, end to end: which stream tables refresh together (a stream table alone, or
// the whole atomic consistency group it belongs to), the group numbering diamond_groups() shows,
// the single-flight lock, and a scheduled run with its success and failure bookkeeping. The
// scheduler only decides which units are due; refresh_stream_table() and the scheduler both
// go through here.
#pragma once

#include "pgt_catalog/catalog.hpp"
#include "core/dag.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace pgtrickle::refresh {

struct Unit {
	std::vector<catalog::StreamTable> members; // topological order
	std::optional<int> group_id;               // diamond_groups() id when in a non-singleton group
	bool atomic = false;                       // refreshed as one atomic group
};

// Whether the scheduler may refresh st (ACTIVE, or INITIALIZING).
inline bool Runnable(const catalog::StreamTable &st) {
	return st.status == core::StStatus::kActive || st.status == core::StStatus::kInitializing;
}

// diamond_groups() numbering: non-singleton groups are 1..n in the DAG's group order; index i of
// dag.Groups() maps to result[i] (nullopt for singletons).
std::vector<std::optional<int>> GroupNumbers(const std::vector<core::Group> &groups);
std::vector<std::optional<int>> GroupNumbers(const core::Dag &dag);

// The unit to refresh for target (a catalog row the caller loaded). With whole_group, a member of
// an atomic group brings the whole group (SPEC §5: refreshing one member alone could split the
// convergence node). A stream table that neither reads nor feeds another stream table is a
// singleton: the unit is target alone, found without loading the catalog or building the DAG.
Unit FindUnit(const catalog::StreamTable &target, bool whole_group);

// Single-flight, one lock key for every caller. Transaction-scoped, without waiting: false when
// another session holds it (a refresh of that table is running).
bool TryLockStreamTable(std::int64_t pgt_id);
// Transaction-scoped, waiting: drop_stream_table takes it before any other lock, so that it waits
// for a running refresh to end instead of deadlocking with it (the scheduler only try-locks).
void LockStreamTable(std::int64_t pgt_id);
// Session-scoped variants (the scheduler holds them across its transactions).
bool TryLockStreamTableForSession(std::int64_t pgt_id);
void UnlockStreamTableForSession(std::int64_t pgt_id);

// A scheduled run of `unit` in transactions of its own (see tick.cpp's header comment):
// T1 takes the locks and commits RUNNING history rows, T2 refreshes in a subtransaction and
// records success or failure (history, error counter, suspension, alerts), T3 releases the
// locks. Returns the members' new data_timestamp on success, nullopt when skipped or failed.
// Must be called outside a transaction (background worker).
std::optional<catalog::TimestampUs> RunScheduledUnit(const Unit &unit);

} // namespace pgtrickle::refresh
