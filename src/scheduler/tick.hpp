// One scheduler tick: load the DAG, decide what is due, refresh units in topological order.
#pragma once

#include <cstdint>
#include <set>

namespace pgtrickle::scheduler {

// State the scheduler keeps between ticks (plain C++, outside any transaction).
struct SchedulerState {
	std::set<std::int64_t> stale_alerted; // stream tables already reported as stale
};

// Runs one tick. Starts and commits its own transactions; must be called with none open.
// C++ regime (throws on unexpected errors; refresh failures are handled inside).
void RunTick(SchedulerState &state);

// Startup recovery: history rows left RUNNING by a crash become FAILED, and the stored parse
// trees are derived again (api::RefreshDefiningTrees; those of stream tables whose relations were
// locked are tried again at the following ticks). Own transactions.
void RecoverInterruptedRefreshes();

// Whether pg_trickle is installed (and not being created) in this database. Own transaction.
bool ExtensionPresent();

} // namespace pgtrickle::scheduler
