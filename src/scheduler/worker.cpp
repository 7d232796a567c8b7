// The per-database scheduler worker: signal handling, the wait loop and per-database exclusivity.
// Never waits with a transaction open.
#include "scheduler/launcher.hpp"
#include "scheduler/tick.hpp"

#include "bridge/guard.hpp"
#include "config/guc.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
}

using namespace pgtrickle;

namespace {

// Advisory lock class of "the scheduler of this database" ('pgts').
constexpr uint32 kSchedulerLockClass = 0x70677473;

// Session-level lock: a second scheduler for the same database exits at once. PG regime.
bool ClaimDatabase() {
	LOCKTAG tag;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kSchedulerLockClass, MyDatabaseId, 2);
	return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

void SchedulerLoop() {
	if (!scheduler::ExtensionPresent()) {
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
		if (!scheduler::ExtensionPresent()) {
			ereport(LOG, (errmsg("pg_trickle scheduler stopping: extension dropped")));
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
