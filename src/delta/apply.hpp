// Applying a delta plan to a storage table (see delta_plan.hpp).
#pragma once

#include "bridge/spi.hpp"
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

// The SQL statements a DIFFERENTIAL refresh runs, for explain_st().
std::string DescribeApply(const catalog::StreamTable &st, const DeltaPlan &plan);

} // namespace pgtrickle::delta
