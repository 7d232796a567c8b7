// Refresh execution: recomputes stream tables on one snapshot and records the outcome.
// Used by refresh_stream_table(), create/alter (initial population) and the scheduler.
#pragma once

#include "pgt_catalog/catalog.hpp"
#include "capture/frontier.hpp"
#include "pgt_catalog/history.hpp"
#include "delta/delta_plan.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace pgtrickle::refresh {

// FULL or DIFFERENTIAL for the next refresh of st, and why (explain_st shows it).
struct ModeDecision {
	bool differential = false;
	std::string reason;
	delta::DeltaPlan plan;
	capture::Frontier since;
	// AUTO's estimates (core/auto_mode.hpp, core::DescribeCost), when it compared costs: the
	// DIFFERENTIAL refresh's, and FULL's when it was estimated.
	std::optional<std::string> differential_cost;
	std::optional<std::string> full_cost;
	// FullWritesDifference(st), when the estimate of FULL asked it (the FULL refresh reuses it).
	std::optional<bool> full_writes_difference;
};
ModeDecision DecideMode(const catalog::StreamTable &st);

// Whether a FULL refresh of st writes only the rows that differ (st is populated, needs no
// rebuild, and another stream table reads it: their change buffers then receive only the real
// change), rather than deleting every row and inserting the result. Computing the difference
// costs more than rewriting every row (a hashed netting of the result and the stored rows:
// 1.6-3.2x REFRESH MATERIALIZED VIEW, docs/benchmarks.md), so it is done only where it spares
// the readers' buffers and refreshes every row twice (not measured as a whole yet). C++ regime;
// needs SPI.
bool FullWritesDifference(const catalog::StreamTable &st);

struct UnitOptions {
	catalog::Initiator who = catalog::Initiator::kManual;
	std::optional<int> group_id; // diamond_groups() id, recorded in history
	bool atomic_group = false;   // bump group_epoch of the members on success
	// RUNNING history rows already committed by the scheduler (one per member, same order);
	// empty: rows are started inside the current transaction.
	std::vector<std::int64_t> history_ids;
	// Manual refresh of this pgt_id: a SUSPENDED member (as read after the snapshot) is an
	// error (55000) instead of being refreshed.
	std::optional<std::int64_t> reject_suspended;
};

struct UnitResult {
	std::vector<catalog::RefreshOutcome> outcomes;
	std::optional<std::int64_t> epoch; // new group epoch when atomic_group
};

// Refreshes `members` (topological order) in the current transaction, all reading one snapshot
// of their sources, then records history rows and success bookkeeping and trims the change
// buffers they read. Each member runs as its owner. The members' catalog rows are read again
// once the snapshot is taken (the given structs only name them and label their RUNNING history
// rows). On the first failure it throws and stores the failing member's pgt_id in
// *failed_member; the caller rolls back (whole transaction or subtransaction). The caller must
// hold every member's single-flight lock. C++ regime; needs SPI.
UnitResult RefreshUnit(const std::vector<catalog::StreamTable> &members, const UnitOptions &options,
                       std::int64_t *failed_member);

} // namespace pgtrickle::refresh
