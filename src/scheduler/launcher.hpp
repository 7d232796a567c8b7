// Background workers: the launcher (one per server) and the per-database schedulers.
#pragma once

namespace pgtrickle::scheduler {

// Registers the launcher worker. Called from _PG_init under shared_preload_libraries only.
void RegisterLauncher();

} // namespace pgtrickle::scheduler
