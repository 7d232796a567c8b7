// The launcher background worker and the shared state it publishes.
//
// The launcher connects to no database. Every rescan (every kRescanSeconds, or at once when
// CREATE EXTENSION wakes it) it lists the connectable databases and starts a scheduler for each
// one that has none running; a scheduler exits at once in a database without the extension, and
// that database is probed again only after kProbeBackoffSeconds unless the launcher is woken.
#include "scheduler/launcher.hpp"

#include "bridge/guard.hpp"

#include <map>

extern "C" {
#include "postgres.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace pgtrickle::scheduler {

void WakeLauncher();

namespace {

constexpr int kRescanSeconds = 5;
constexpr int kProbeBackoffSeconds = 30;

struct SharedState {
	Latch *launcher_latch;
	pg_atomic_uint32 rescan_requested;
};

SharedState *shared = nullptr;
bool wake_at_commit = false;

void OnXactEvent(XactEvent event, void *) {
	if (event == XACT_EVENT_COMMIT && wake_at_commit) {
		wake_at_commit = false;
		WakeLauncher();
	} else if (event == XACT_EVENT_ABORT) {
		wake_at_commit = false;
	}
}
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void ShmemRequest() {
	if (prev_shmem_request_hook) {
		prev_shmem_request_hook();
	}
	RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

void ShmemStartup() {
	if (prev_shmem_startup_hook) {
		prev_shmem_startup_hook();
	}
	bool found = false;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = (SharedState *)ShmemInitStruct("pg_trickle", sizeof(SharedState), &found);
	if (!found) {
		shared->launcher_latch = nullptr;
		pg_atomic_init_u32(&shared->rescan_requested, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

struct DatabaseState {
	BackgroundWorkerHandle *handle = nullptr;
	TimestampTz last_start = 0;
};

// Connectable, non-template databases, read from the shared catalog pg_database (the launcher
// has no database connection, so no SPI). PG regime.
List *ListDatabases() {
	List *result = NIL;
	MemoryContext caller = CurrentMemoryContext;
	StartTransactionCommand();
	(void)GetTransactionSnapshot();
	Relation rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple tuple;
	while (HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection))) {
		Form_pg_database db = (Form_pg_database)GETSTRUCT(tuple);
		if (!db->datallowconn || db->datistemplate) {
			continue;
		}
		MemoryContext old = MemoryContextSwitchTo(caller);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return result;
}

BackgroundWorkerHandle *StartScheduler(Oid dboid) {
	BackgroundWorker worker;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_trickle");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgtrickle_scheduler_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_trickle scheduler for database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_trickle scheduler");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	BackgroundWorkerHandle *handle = nullptr;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle)) {
		ereport(WARNING,
		        (errmsg("pg_trickle launcher could not start a scheduler for database %u", dboid),
		         errhint("Raise max_worker_processes.")));
		return nullptr;
	}
	return handle;
}

bool IsRunning(BackgroundWorkerHandle *handle) {
	if (handle == nullptr) {
		return false;
	}
	pid_t pid;
	BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);
	return status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED;
}

} // namespace

void RegisterLauncher() {
	RegisterXactCallback(OnXactEvent, nullptr);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ShmemStartup;

	BackgroundWorker worker;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_trickle");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgtrickle_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_trickle launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_trickle launcher");
	RegisterBackgroundWorker(&worker);
}

void WakeLauncher() {
	if (shared == nullptr) {
		return;
	}
	pg_atomic_write_u32(&shared->rescan_requested, 1);
	Latch *latch = shared->launcher_latch;
	if (latch != nullptr) {
		SetLatch(latch);
	}
}

void WakeLauncherAtCommit() {
	wake_at_commit = true;
}

bool SchedulerAvailable() {
	return shared != nullptr;
}

} // namespace pgtrickle::scheduler

using namespace pgtrickle::scheduler;

// Launcher main (PG regime). Errors are FATAL for this process; the postmaster restarts it.
extern "C" void pgtrickle_launcher_main(Datum) {
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_trickle launcher");

	shared->launcher_latch = &MyProc->procLatch;
	on_shmem_exit([](int, Datum) { shared->launcher_latch = nullptr; }, (Datum)0);

	// Plain C bookkeeping in a long-lived context: handles per database.
	MemoryContext ctx =
	    AllocSetContextCreate(TopMemoryContext, "pg_trickle launcher", ALLOCSET_DEFAULT_SIZES);
	int capacity = 64;
	Oid *db_oids = (Oid *)MemoryContextAllocZero(ctx, sizeof(Oid) * capacity);
	BackgroundWorkerHandle **handles =
	    (BackgroundWorkerHandle **)MemoryContextAllocZero(ctx, sizeof(void *) * capacity);
	TimestampTz *last_start =
	    (TimestampTz *)MemoryContextAllocZero(ctx, sizeof(TimestampTz) * capacity);
	int count = 0;

	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		bool forced = pg_atomic_exchange_u32(&shared->rescan_requested, 0) != 0;
		MemoryContext old = MemoryContextSwitchTo(ctx);
		List *dbs = ListDatabases();
		MemoryContextSwitchTo(old);
		TimestampTz now = GetCurrentTimestamp();
		ListCell *lc;
		foreach (lc, dbs) {
			Oid dboid = lfirst_oid(lc);
			int slot = -1;
			for (int i = 0; i < count; i++) {
				if (db_oids[i] == dboid) {
					slot = i;
				}
			}
			if (slot < 0) {
				if (count == capacity) {
					int more = capacity * 2;
					db_oids = (Oid *)repalloc(db_oids, sizeof(Oid) * more);
					handles = (BackgroundWorkerHandle **)repalloc(handles, sizeof(void *) * more);
					last_start = (TimestampTz *)repalloc(last_start, sizeof(TimestampTz) * more);
					capacity = more;
				}
				slot = count++;
				db_oids[slot] = dboid;
				handles[slot] = nullptr;
				last_start[slot] = 0;
			}
			if (IsRunning(handles[slot])) {
				continue;
			}
			bool backoff =
			    last_start[slot] != 0 &&
			    !TimestampDifferenceExceeds(last_start[slot], now, kProbeBackoffSeconds * 1000);
			if (backoff && !forced) {
				continue;
			}
			if (handles[slot] != nullptr) {
				pfree(handles[slot]);
				handles[slot] = nullptr;
			}
			MemoryContext old2 = MemoryContextSwitchTo(ctx);
			handles[slot] = StartScheduler(dboid);
			MemoryContextSwitchTo(old2);
			last_start[slot] = now;
		}
		list_free(dbs);

		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
		                kRescanSeconds * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

PGT_FUNCTION(pgtrickle_wake_launcher) {
	(void)fcinfo;
	WakeLauncherAtCommit();
	PG_RETURN_VOID();
}
