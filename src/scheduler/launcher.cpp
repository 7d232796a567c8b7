// The launcher background worker and the shared state it publishes.
//
// The launcher connects to no database. It runs a scheduler worker only in databases that have
// stream tables, so that a cluster with many databases does not spend a worker slot on each one.
// What it knows about each database lives in shared memory (DbSlot): whether a scheduler is
// wanted there (kWanted: it has stream tables), not wanted (kNotWanted: a scheduler found none
// and exited), or unknown (kUnknown: after a server start, or CREATE EXTENSION). Every rescan
// (every kRescanSeconds, or at once when woken) it lists the connectable databases and starts a
// scheduler for each wanted database that has none running, then probes the unknown ones (a
// probing scheduler that finds no stream table records kNotWanted and exits). Creating a stream
// table marks its database wanted at commit and wakes the launcher; a scheduler whose database
// has no stream table left exits cleanly. When no worker slot is free, the launcher records the
// failure in the database's slot, where health_check() reads it.
#include "scheduler/launcher.hpp"

#include "bridge/guard.hpp"

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
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace pgtrickle::scheduler {

namespace {

constexpr int kRescanSeconds = 5;
// A database whose scheduler exited without saying whether it is wanted (a crash, or the
// database was not tracked) is probed again only after this long, unless the launcher is woken.
constexpr int kProbeBackoffSeconds = 30;
// At most this many databases are tracked; the others are probed like unknown ones.
constexpr int kMaxTrackedDatabases = 1024;

struct DbSlot {
	Oid dboid;         // InvalidOid: free
	uint8 want;        // SchedulerWant
	uint32 generation; // +1 each time a committed transaction asks for a scheduler
	bool start_failed; // the last attempt to start a scheduler found no free worker slot
	bool warned;       // the launcher logged this streak of failures
	TimestampTz failed_since;
	pid_t scheduler_pid; // the running scheduler (0: none), also one a restarted launcher did not
	                     // start
};

struct SharedState {
	Latch *launcher_latch;
	pg_atomic_uint32 rescan_requested;
	slock_t mutex; // protects dbs
	DbSlot dbs[kMaxTrackedDatabases];
};

SharedState *shared = nullptr;

// What the current transaction asks for at commit.
enum class AtCommit { kNothing, kProbe, kWant };
AtCommit at_commit = AtCommit::kNothing;

// The slot of `dboid`, or nullptr. Caller holds the mutex.
DbSlot *FindSlot(Oid dboid) {
	for (int i = 0; i < kMaxTrackedDatabases; i++) {
		if (shared->dbs[i].dboid == dboid) {
			return &shared->dbs[i];
		}
	}
	return nullptr;
}

// The slot of `dboid`, taking a free one (kUnknown) when it has none; nullptr when the table is
// full. Caller holds the mutex.
DbSlot *FindOrAddSlot(Oid dboid) {
	DbSlot *slot = FindSlot(dboid);
	if (slot == nullptr) {
		slot = FindSlot(InvalidOid);
		if (slot != nullptr) {
			slot->dboid = dboid;
			slot->want = static_cast<uint8>(SchedulerWant::kUnknown);
			slot->generation = 0;
			slot->start_failed = false;
			slot->warned = false;
			slot->failed_since = 0;
			slot->scheduler_pid = 0;
		}
	}
	return slot;
}

void OnXactEvent(XactEvent event, void *) {
	if (event == XACT_EVENT_COMMIT && at_commit != AtCommit::kNothing && shared != nullptr) {
		// Called after the commit is visible: a scheduler that checks for stream tables from now
		// on sees them; one that checked before sees the generation change (ReleaseScheduler).
		bool want = at_commit == AtCommit::kWant;
		at_commit = AtCommit::kNothing;
		SpinLockAcquire(&shared->mutex);
		DbSlot *slot = FindOrAddSlot(MyDatabaseId);
		if (slot != nullptr) {
			slot->generation++;
			if (want) {
				slot->want = static_cast<uint8>(SchedulerWant::kWanted);
			} else if (slot->want == static_cast<uint8>(SchedulerWant::kNotWanted)) {
				slot->want = static_cast<uint8>(SchedulerWant::kUnknown);
			}
		}
		SpinLockRelease(&shared->mutex);
		WakeLauncher();
	} else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) {
		at_commit = AtCommit::kNothing;
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
		memset(shared, 0, sizeof(SharedState));
		shared->launcher_latch = nullptr;
		pg_atomic_init_u32(&shared->rescan_requested, 0);
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

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

// Tracks every listed database (new ones as kUnknown) and frees the slots of dropped ones.
void SyncSlots(List *dbs) {
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < kMaxTrackedDatabases; i++) {
		if (OidIsValid(shared->dbs[i].dboid) && !list_member_oid(dbs, shared->dbs[i].dboid)) {
			shared->dbs[i].dboid = InvalidOid;
		}
	}
	ListCell *lc;
	foreach (lc, dbs) {
		(void)FindOrAddSlot(lfirst_oid(lc));
	}
	SpinLockRelease(&shared->mutex);
}

// kUnknown for an untracked database. `running`: a scheduler has claimed the database.
SchedulerWant WantOf(Oid dboid, bool *running) {
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindSlot(dboid);
	SchedulerWant want =
	    slot != nullptr ? static_cast<SchedulerWant>(slot->want) : SchedulerWant::kUnknown;
	*running = slot != nullptr && slot->scheduler_pid != 0;
	SpinLockRelease(&shared->mutex);
	return want;
}

// Records whether the last start attempt for `dboid` found a free worker slot. Returns whether
// to log the failure: for a database that wants a scheduler, once per streak of failures (not at
// every rescan).
bool RecordStart(Oid dboid, bool started, bool wanted, TimestampTz now) {
	bool warn = false;
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindSlot(dboid);
	if (slot != nullptr) {
		if (!started && !slot->start_failed) {
			slot->failed_since = now;
		}
		slot->start_failed = !started;
		warn = !started && wanted && !slot->warned;
		slot->warned = !started && (slot->warned || wanted);
	} else {
		warn = !started && wanted;
	}
	SpinLockRelease(&shared->mutex);
	return warn;
}

// Registers a scheduler worker for `dboid`; nullptr when no worker slot is free. PG regime.
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

// The launcher's own bookkeeping per database (local memory, plain C).
struct Local {
	MemoryContext ctx;
	int capacity;
	int count;
	Oid *db_oids;
	BackgroundWorkerHandle **handles;
	TimestampTz *last_start;
};

int LocalSlot(Local &l, Oid dboid) {
	for (int i = 0; i < l.count; i++) {
		if (l.db_oids[i] == dboid) {
			return i;
		}
	}
	if (l.count == l.capacity) {
		int more = l.capacity * 2;
		l.db_oids = (Oid *)repalloc(l.db_oids, sizeof(Oid) * more);
		l.handles = (BackgroundWorkerHandle **)repalloc(l.handles, sizeof(void *) * more);
		l.last_start = (TimestampTz *)repalloc(l.last_start, sizeof(TimestampTz) * more);
		l.capacity = more;
	}
	int i = l.count++;
	l.db_oids[i] = dboid;
	l.handles[i] = nullptr;
	l.last_start[i] = 0;
	return i;
}

// One pass of the launcher: databases that want a scheduler first, then the unknown ones (the
// probes must not take the slot a database with stream tables needs). PG regime.
void Rescan(Local &l, bool forced) {
	MemoryContext old = MemoryContextSwitchTo(l.ctx);
	List *dbs = ListDatabases();
	MemoryContextSwitchTo(old);
	SyncSlots(dbs);
	TimestampTz now = GetCurrentTimestamp();
	for (int pass = 0; pass < 2; pass++) {
		ListCell *lc;
		foreach (lc, dbs) {
			Oid dboid = lfirst_oid(lc);
			bool claimed = false;
			SchedulerWant want = WantOf(dboid, &claimed);
			if (want == SchedulerWant::kNotWanted ||
			    (pass == 0) != (want == SchedulerWant::kWanted)) {
				continue;
			}
			int i = LocalSlot(l, dboid);
			// Ours, or one that a previous launcher process started.
			if (IsRunning(l.handles[i]) || claimed) {
				continue;
			}
			// Restart a wanted scheduler at once (but not twice in a second: one that found its
			// predecessor still exiting ends at once); probe again only after the backoff.
			int backoff_ms = want == SchedulerWant::kWanted ? 1000 : kProbeBackoffSeconds * 1000;
			bool in_backoff = l.last_start[i] != 0 &&
			                  !TimestampDifferenceExceeds(l.last_start[i], now, backoff_ms);
			if (in_backoff && (want == SchedulerWant::kWanted || !forced)) {
				continue;
			}
			if (l.handles[i] != nullptr) {
				pfree(l.handles[i]);
				l.handles[i] = nullptr;
			}
			MemoryContext old2 = MemoryContextSwitchTo(l.ctx);
			l.handles[i] = StartScheduler(dboid);
			MemoryContextSwitchTo(old2);
			bool started = l.handles[i] != nullptr;
			if (started) {
				l.last_start[i] = now;
			}
			if (RecordStart(dboid, started, want == SchedulerWant::kWanted, now)) {
				ereport(WARNING,
				        (errmsg("pg_trickle launcher could not start a scheduler for database %u",
				                dboid),
				         errdetail("No background worker slot is free (max_worker_processes = "
				                   "%d). Its stream tables are not refreshed until one is.",
				                   max_worker_processes),
				         errhint("Raise max_worker_processes: the launcher needs one slot and "
				                 "each database with stream tables one more.")));
			}
		}
	}
	list_free(dbs);
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
	if (at_commit == AtCommit::kNothing) {
		at_commit = AtCommit::kProbe;
	}
}

void RequestSchedulerAtCommit() {
	at_commit = AtCommit::kWant;
}

bool SchedulerAvailable() {
	return shared != nullptr;
}

std::uint32_t SchedulerGeneration() {
	if (shared == nullptr) {
		return 0;
	}
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindSlot(MyDatabaseId);
	uint32 generation = slot != nullptr ? slot->generation : 0;
	SpinLockRelease(&shared->mutex);
	return generation;
}

bool ReleaseScheduler(std::uint32_t generation) {
	if (shared == nullptr) {
		return true;
	}
	bool release = true;
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindSlot(MyDatabaseId);
	if (slot != nullptr) {
		release = slot->generation == generation;
		if (release) {
			slot->want = static_cast<uint8>(SchedulerWant::kNotWanted);
			slot->start_failed = false;
			slot->warned = false;
		}
	}
	SpinLockRelease(&shared->mutex);
	return release;
}

void MarkSchedulerWanted() {
	if (shared == nullptr) {
		return;
	}
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindOrAddSlot(MyDatabaseId);
	if (slot != nullptr) {
		slot->want = static_cast<uint8>(SchedulerWant::kWanted);
		slot->start_failed = false;
		slot->warned = false;
		slot->scheduler_pid = MyProcPid;
	}
	SpinLockRelease(&shared->mutex);
	// However the scheduler ends (FATAL included), the launcher may start another one.
	on_shmem_exit(
	    [](int, Datum) {
		    SpinLockAcquire(&shared->mutex);
		    DbSlot *mine = FindSlot(MyDatabaseId);
		    if (mine != nullptr && mine->scheduler_pid == MyProcPid) {
			    mine->scheduler_pid = 0;
		    }
		    SpinLockRelease(&shared->mutex);
	    },
	    (Datum)0);
}

SchedulerSlotInfo DescribeScheduler() {
	SchedulerSlotInfo info;
	if (shared == nullptr) {
		return info;
	}
	info.launcher_running = shared->launcher_latch != nullptr;
	SpinLockAcquire(&shared->mutex);
	DbSlot *slot = FindSlot(MyDatabaseId);
	if (slot != nullptr) {
		info.tracked = true;
		info.want = static_cast<SchedulerWant>(slot->want);
		info.start_failed = slot->start_failed;
		info.failed_since = slot->failed_since;
	}
	SpinLockRelease(&shared->mutex);
	return info;
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
	Local l;
	l.ctx = AllocSetContextCreate(TopMemoryContext, "pg_trickle launcher", ALLOCSET_DEFAULT_SIZES);
	l.capacity = 64;
	l.count = 0;
	l.db_oids = (Oid *)MemoryContextAllocZero(l.ctx, sizeof(Oid) * l.capacity);
	l.handles =
	    (BackgroundWorkerHandle **)MemoryContextAllocZero(l.ctx, sizeof(void *) * l.capacity);
	l.last_start = (TimestampTz *)MemoryContextAllocZero(l.ctx, sizeof(TimestampTz) * l.capacity);

	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		bool forced = pg_atomic_exchange_u32(&shared->rescan_requested, 0) != 0;
		Rescan(l, forced);
		// Also woken when one of our schedulers starts or stops (bgw_notify_pid): a slot freed
		// by a scheduler that found no stream table goes at once to a database waiting for one.
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

// A stream table restored from a dump (pgtrickle._on_catalog_restore) needs a scheduler in this
// database like a newly created one: a probe at CREATE EXTENSION may have found none yet.
PGT_FUNCTION(pgtrickle_request_scheduler) {
	(void)fcinfo;
	RequestSchedulerAtCommit();
	PG_RETURN_VOID();
}
