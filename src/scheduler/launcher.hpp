// Background workers (SPEC §7): one launcher per server finds the databases where pg_trickle is
// installed and starts one scheduler worker per database.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::scheduler {

// Registers the launcher and requests shared memory. Called from _PG_init under
// shared_preload_libraries only.
void RegisterLauncher();

// Wakes the launcher so that it rescans databases now. No-op when the library was not preloaded.
void WakeLauncher();

// Wakes the launcher when the current transaction commits (CREATE EXTENSION calls it: the new
// scheduler must find the extension committed).
void WakeLauncherAtCommit();

// Whether the shared state exists (the library was preloaded).
bool SchedulerAvailable();

} // namespace pgtrickle::scheduler

extern "C" {
PGDLLEXPORT void pgtrickle_launcher_main(Datum arg);
PGDLLEXPORT void pgtrickle_scheduler_main(Datum arg);
}
