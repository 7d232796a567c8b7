// Applying a delta plan to a storage table (see delta_plan.hpp).
#pragma once

#include "bridge/spi.hpp"
#include "core/auto_mode.hpp"
#include "capture/frontier.hpp"
#include "pgt_catalog/catalog.hpp"
#include "pgt_catalog/history.hpp"
#include "delta/delta_plan.hpp"

extern "C" {
#include "postgres.h"
#include "utils/snapshot.h"
}

namespace pgtrickle::delta {

// Computes st's delta since `since` (its previous frontier) on `snapshot` and applies it: rows
// with positive weight are inserted that many times, negative weight deletes that many matching
// rows; grouped queries delete and recompute the affected groups. Runs as the caller's current
// role (the refresh switches to the owner). C++ regime; needs SPI.
catalog::RefreshOutcome ApplyDelta(const catalog::StreamTable &st, const DeltaPlan &plan,
                                   const capture::Frontier &since, Snapshot snapshot);

// Runs `statement` through SPI with jit = off, restored afterwards (also on error): delta
// statements are trees of small subqueries that JIT would compile for far longer than they run.
// C++ regime.
bridge::SpiResult WithoutJit(const std::string &statement, const std::vector<bridge::Value> &params,
                             const bridge::SpiOptions &options);

// PostgreSQL's estimates for AUTO (core/auto_mode.hpp): of applying `plan` to st since `since`
// (the statement ApplyDelta would run, planned with the frontier bound; a row delta by its delta
// query, whose rows are the rows written), and of a FULL refresh of st (the defining query plus
// the delete of the stored rows, or the difference when FULL writes only that; an algebraic
// plan's state is rebuilt by a FULL refresh, which reads the sources once more). Run as the
// owner. C++ regime; needs SPI.
struct PendingSize {
	std::int64_t change_rows = 0; // pending row changes of st's sources (capture::CountPending)
	std::int64_t source_rows = 0; // the sources' rows
};
core::PlanCost EstimateDifferential(const catalog::StreamTable &st, const DeltaPlan &plan,
                                    const capture::Frontier &since, const PendingSize &pending);
core::PlanCost EstimateFull(const catalog::StreamTable &st, const DeltaPlan &plan,
                            bool writes_difference);

// The SQL statements a DIFFERENTIAL refresh runs, for explain_st().
std::string DescribeApply(const catalog::StreamTable &st, const DeltaPlan &plan);

} // namespace pgtrickle::delta
