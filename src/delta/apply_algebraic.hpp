// Algebraic maintenance of a top-level aggregation (DeltaPlan shape kAlgebraic): the partial
// state of every group (row count, per aggregate its input count, sum, display scale and the
// count of inputs at that scale, or its extreme) lives in a side table the extension owns,
// pgtrickle_changes.agg_state_<pgt_id>_<layout>_<owner>: created and filled by every FULL
// refresh and reinitialization, dropped with the storage table (a pg_depend AUTO dependency),
// never part of the stream table's rows. Only the stream table's owner is granted access to it.
#pragma once

#include "capture/frontier.hpp"
#include "delta/delta_plan.hpp"
#include "pgt_catalog/catalog.hpp"
#include "pgt_catalog/history.hpp"

extern "C" {
#include "postgres.h"
#include "utils/snapshot.h"
}

namespace pgtrickle::delta {

// Applies a kAlgebraic plan: one statement folds the delta into the state of the affected
// groups, recomputes from the sources the groups whose state cannot be kept exact (a numeric
// display scale that may have dropped, a deleted extreme, NaN/Infinity), and replaces the
// groups' rows in the storage by their select list over the new state. Without a state table
// (never built, or built for another query or owner) it applies plan.fallback and builds the
// state. Runs as the stream table's owner. C++ regime; needs SPI.
catalog::RefreshOutcome ApplyAlgebraic(const catalog::StreamTable &st, const DeltaPlan &plan,
                                       const capture::Frontier &since, Snapshot snapshot);

// A FULL refresh of st whose plan is algebraic, from one aggregation: builds the state from the
// sources (as AfterFullRefresh would), then replaces every stored row by the rows the state gives
// (the output the DIFFERENTIAL apply writes for affected groups, here for all of them). The
// state of a fresh build is exact (no group needs a rescan), so the rows are the query's. Runs as
// the owner. C++ regime; needs SPI.
catalog::RefreshOutcome FullFromState(const catalog::StreamTable &st, const DeltaPlan &plan,
                                      Snapshot snapshot);

// Its statements, for explain_st (after the state table is created anew).
std::string DescribeFullFromState(const catalog::StreamTable &st, const DeltaPlan &plan);

// After a FULL refresh (or a reinitialization) of st: builds its state from the new contents
// when its plan is algebraic (plan: the refresh's, or nullptr to plan it here), otherwise drops
// any state table it had. C++ regime; needs SPI.
void AfterFullRefresh(const catalog::StreamTable &st, const DeltaPlan *plan, Snapshot snapshot);

// Whether st's state table for `plan` exists (otherwise ApplyAlgebraic applies plan.fallback and
// builds it). C++ regime.
bool HasAlgebraicState(const catalog::StreamTable &st, const DeltaPlan &plan);

// The per-group sums of the pending changes that the apply statement folds into the state
// (parameters $1..$3: the frontier), for AUTO's estimate.
std::string AlgebraicDeltaSql(const DeltaPlan &plan);

// The apply statement and the aggregates' rules (explain_st).
std::string AlgebraicApplySql(const catalog::StreamTable &st, const DeltaPlan &plan);
std::string DescribeAlgebraic(const DeltaPlan &plan);

} // namespace pgtrickle::delta
