// The per-database scheduler worker: signal handling, the wait loop and per-database exclusivity.
// Never waits with a transaction open. It runs only while its database has stream tables: it
// exits cleanly when it finds none (at start, or after the last one is dropped), and the
// launcher starts it again when one is created.
#include "scheduler/launcher.hpp"
#include "scheduler/tick.hpp"

#include "bridge/guard.hpp"
#include "config/guc.hpp"

#include <cstdint>

extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

using namespace pgtrickle;
using bridge::PgCall;

namespace {

// Advisory lock class of "the scheduler of this database" ('pgts').
constexpr uint32 kSchedulerLockClass = 0x70677473;

// Session-level lock: a second scheduler for the same database exits at once. PG regime.
bool ClaimDatabase() {
	LOCKTAG tag;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kSchedulerLockClass, MyDatabaseId, 2);
	return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

// What this database holds, read in a transaction of its own. PG regime (own transaction).
enum class Contents { kNoExtension, kNoStreamTables, kStreamTables };

Contents ReadContents() {
	StartTransactionCommand();
	Contents contents = Contents::kNoExtension;
	if (OidIsValid(get_extension_oid("pg_trickle", true)) && !creating_extension) {
		contents = Contents::kNoStreamTables;
		Oid nsp = get_namespace_oid("pgtrickle", true);
		Oid relid = OidIsValid(nsp) ? get_relname_relid("pgt_stream_tables", nsp) : InvalidOid;
		if (OidIsValid(relid)) {
			PushActiveSnapshot(GetTransactionSnapshot());
			Relation rel = table_open(relid, AccessShareLock);
			TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
			TupleTableSlot *slot = table_slot_create(rel, NULL);
			if (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
				contents = Contents::kStreamTables;
			}
			ExecDropSingleTupleTableSlot(slot);
			table_endscan(scan);
			table_close(rel, AccessShareLock);
			PopActiveSnapshot();
		}
	}
	CommitTransactionCommand();
	return contents;
}

// Whether this scheduler should stop: the database has no stream table (or no pg_trickle) and no
// stream table was created since we looked. Then the launcher knows this database needs no
// scheduler until one is. C++ regime.
bool ShouldStop(Contents *seen) {
	for (;;) {
		std::uint32_t generation = scheduler::SchedulerGeneration();
		Contents contents = PgCall([] { return ReadContents(); });
		*seen = contents;
		if (contents == Contents::kStreamTables) {
			return false;
		}
		if (scheduler::ReleaseScheduler(generation)) {
			return true;
		}
	}
}

void SchedulerLoop() {
	Contents contents;
	if (ShouldStop(&contents)) {
		ereport(DEBUG1, (errmsg("pg_trickle scheduler not needed: %s",
		                        contents == Contents::kNoExtension ? "pg_trickle is not installed"
		                                                           : "no stream tables")));
		return;
	}
	bridge::PgCall([] {
		StartTransactionCommand();
		bool claimed = ClaimDatabase();
		CommitTransactionCommand();
		if (!claimed) {
			ereport(LOG, (errmsg("pg_trickle scheduler already running in this database")));
			proc_exit(0);
		}
	});
	scheduler::MarkSchedulerWanted();
	scheduler::RecoverInterruptedRefreshes();
	ereport(LOG, (errmsg("pg_trickle scheduler started")));

	scheduler::SchedulerState state;
	for (;;) {
		bridge::PgCall([] {
			(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
			                config::scheduler_interval_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending) {
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
		});
		if (ShouldStop(&contents)) {
			ereport(LOG, (errmsg("pg_trickle scheduler stopping: %s",
			                     contents == Contents::kNoExtension
			                         ? "extension dropped"
			                         : "no stream tables left in this database")));
			return;
		}
		if (!config::enabled || RecoveryInProgress()) {
			continue;
		}
		scheduler::RunTick(state);
	}
}

} // namespace

// Scheduler main (PG regime). An error escaping the loop is FATAL for this worker; the launcher
// starts a new one.
extern "C" void pgtrickle_scheduler_main(Datum arg) {
	Oid dboid = DatumGetObjectId(arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("pg_trickle scheduler");
	// A refresh is a bulk job: no parallel workers taken from the pool the launcher needs.
	SetConfigOption("max_parallel_workers_per_gather", "0", PGC_SUSET, PGC_S_OVERRIDE);
	// Everything the scheduler runs is schema-qualified; pin the path like the SQL API does.
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	bridge::RunCppOrRaise(SchedulerLoop);
	proc_exit(0);
}
