// Background workers (SPEC §7): one launcher per server finds the databases that have stream
// tables and runs one scheduler worker in each.
#pragma once

#include <cstdint>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::scheduler {

// Registers the launcher and requests shared memory. Called from _PG_init under
// shared_preload_libraries only.
void RegisterLauncher();

// Wakes the launcher so that it rescans databases now. No-op when the library was not preloaded.
void WakeLauncher();

// Wakes the launcher when the current transaction commits, and has it probe this database again
// (CREATE EXTENSION calls it: a restored database may already hold stream tables).
void WakeLauncherAtCommit();

// Marks this database as wanting a scheduler when the current transaction commits, and wakes
// the launcher (create_stream_table calls it: the first stream table of a database gets it a
// scheduler). No-op when the library was not preloaded.
void RequestSchedulerAtCommit();

// Whether the shared state exists (the library was preloaded).
bool SchedulerAvailable();

// Whether a database needs a scheduler, as the launcher knows it.
enum class SchedulerWant : std::uint8_t {
	kUnknown = 0, // not probed yet (server start, CREATE EXTENSION): a scheduler starts to look
	kWanted,      // it has stream tables
	kNotWanted,   // a scheduler found no stream table there and exited
};

// For this database's scheduler worker: the number of scheduler requests so far. Read it before
// checking whether the database has stream tables, and pass it to ReleaseScheduler.
std::uint32_t SchedulerGeneration();
// Called by a scheduler that found no stream table (and pg_trickle possibly not installed):
// records that this database wants no scheduler and returns true, so the worker exits; returns
// false when a scheduler was requested since `generation` was read (a stream table was created
// meanwhile), and the worker must look again.
bool ReleaseScheduler(std::uint32_t generation);
// Called once by the scheduler that claimed this database and found stream tables: records it
// as running there (until it exits), so that a restarted launcher does not start another.
void MarkSchedulerWanted();

// What the launcher knows about this database (for health_check).
struct SchedulerSlotInfo {
	bool launcher_running = false; // the launcher process is up
	bool tracked = false;          // the launcher tracks this database (false: not yet, or full)
	SchedulerWant want = SchedulerWant::kUnknown;
	bool start_failed = false;     // the last start found no free background worker slot
	std::int64_t failed_since = 0; // TimestampTz of the first failure of the current streak
};
SchedulerSlotInfo DescribeScheduler();

} // namespace pgtrickle::scheduler

extern "C" {
PGDLLEXPORT void pgtrickle_launcher_main(Datum arg);
PGDLLEXPORT void pgtrickle_scheduler_main(Datum arg);
}
