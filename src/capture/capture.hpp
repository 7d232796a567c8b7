// Change capture (SPEC §5, issue "change capture"): statement-level AFTER triggers with transition
// tables (and, under session_replication_role = replica, where logical replication apply workers
// fire row triggers only, a row trigger) copy every change of a tracked base table into its change
// buffer <change_buffer_schema>.changes_<relid>, shared by every stream table reading that table.
// Every one of them runs the C trigger function pgtrickle._capture(buffer) (capture_trigger.cpp).
// The buffer follows ALTER TABLE of the table in place (EvolveCapture), keeping pending changes.
//
// Which buffered changes a stream table has consumed is decided by transaction visibility, not by
// sequence order: each buffer row carries the top-level xid of the writing transaction, and each
// stream table stores, as its frontier, the snapshot (pg_snapshot) its last refresh read. A row is
// pending for a stream table iff its xid is not visible in that frontier; a transaction that began
// before a refresh and commits after it is therefore consumed by the next refresh, exactly once.
#pragma once

#include "capture/frontier.hpp"
#include "pgt_catalog/catalog.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::capture {

// What the capture triggers of a tracked table run: pgtrickle._capture (the signature) with its
// buffer (qualified, quoted) as argument; under a catalog older than 0.2.0, which lacks it (the
// library runs against the old catalog until ALTER EXTENSION UPDATE), the table's PL/pgSQL
// function <schema>.capture_<relid>() without argument.
struct CaptureTarget {
	std::string function;                // regprocedure text
	std::optional<std::string> argument; // the buffer
	std::string Call() const;            // for EXECUTE FUNCTION
};
CaptureTarget CaptureTargetOf(Oid relid, const std::string &schema, const std::string &buffer);

// Relations whose changes a stream table consumes: its TABLE and STREAM_TABLE sources plus the
// tables under its VIEW sources (recursively). Matviews and foreign tables cannot be captured and
// are returned in *uncapturable.
std::vector<Oid> BaseTablesOf(const std::vector<catalog::Dependency> &deps,
                              std::vector<Oid> *uncapturable);

// Installs capture on each table (if not yet tracked) and registers pgt_id as a consumer (an
// UPDATE of the tracking row, which keeps it locked until the transaction ends: see TrimBuffers).
// Runs as the extension owner. C++ regime; needs SPI.
void AttachConsumer(std::int64_t pgt_id, const std::vector<Oid> &tables);

// Removes pgt_id from every tracked table's consumers (before re-attaching a new query's sources).
void DetachConsumer(std::int64_t pgt_id);

// Removes consumers that no longer exist and drops the capture (triggers, function, buffer) of
// tables nobody consumes or that were dropped.
void CollectGarbage();

// Drops the capture functions (with the triggers calling them, CASCADE), the capture triggers
// naming a buffer, and the buffers in the buffer schema that belong to no tracked source: what a
// restored dump brings along, named after the OIDs of the dumped database. Runs as the extension
// owner in an internal-DDL scope. C++ regime; needs SPI.
void DropOrphanCapture();

// Forgets the change buffer groups the pending check noted for the mode decision's count (see
// CountPending). A refresh unit calls it right after taking its snapshot: only groups read after
// that snapshot see every change the refresh consumes.
void ForgetSeenBuffers();

// The frontier st's last refresh stored, or nullopt if it never refreshed.
std::optional<Frontier> LoadFrontier(std::int64_t pgt_id);

// Whether any captured base table of st has changes its frontier has not consumed (or st reads an
// uncapturable source, which counts as always changed).
bool HasPendingBaseChanges(const catalog::StreamTable &st);
// The same; *buffered (when not pending) gets whether any of st's change buffers held a row at the
// check, consumed or not. When none did, a trim after a refresh that found nothing to do has
// nothing to delete: a row committed later by a transaction below the refresh's snapshot xmin
// would have been visible to the check (it runs after that snapshot), so only rows of later
// writers can be there, which no consumer's floor passes yet (see TrimBuffers).
bool HasPendingBaseChanges(const catalog::StreamTable &st, bool *buffered);

// Pending change rows of st over all its captured sources; *source_rows gets the sources' size
// for the change ratio of AUTO/DIFFERENTIAL: pg_class.reltuples, or for a table never analyzed a
// count bounded by what the ratio needs (pending / max_ratio + 1 rows).
// Row changes only ('I', 'D'). *quiet (when given) gets the sources whose buffer holds no
// pending row: counted on a snapshot taken after the refresh's, which sees every change the
// refresh's delta reads (a change a consumer has not consumed is never trimmed). *marker (when
// given) gets the strongest pending rebuild marker: 'T', 'R' or '\0' (the same scan). When the
// size of every source is known, counting stops once the count exceeds max_ratio of it (the
// refresh is FULL then, whatever the rest holds): the result is then a lower bound, and the
// sources not reached are neither quiet nor noted for the planner. A buffer the unit's pending
// check read (after the unit's snapshot, in this transaction, with nothing written since) is
// counted from the per-writer groups that check noted (core::CountUnconsumed) instead of being
// scanned again.
std::int64_t CountPending(const catalog::StreamTable &st, std::int64_t *source_rows,
                          double max_ratio, std::vector<Oid> *quiet = nullptr,
                          char *marker = nullptr);

// Per captured source of st (ordered by source name): change rows its frontier has not consumed,
// and all rows in the source's buffer. Reads the buffers as the extension owner: only counts
// leave (callers decide who may see them). C++ regime; needs SPI.
struct SourceBacklog {
	std::string source; // regclass text under the pinned search_path
	std::int64_t pending_rows = 0;
	std::int64_t buffer_rows = 0;
};
std::vector<SourceBacklog> PendingBySource(const catalog::StreamTable &st);

// HasPendingBaseChanges for many stream tables at once (the scheduler's tick): each change
// buffer is read once (its distinct writer xids), and every consumer's frontier is checked in
// C++ (core/visibility.hpp). Returns pgt_id -> pending for the given stream tables.
// skip_locked (the scheduler): a buffer that cannot be read at once (a drop_stream_table or an
// ALTER TABLE holds it) is skipped, its consumers counting as not pending: the scheduler never
// waits for a lock user DDL holds, which could close a cycle with it (40P01 for the user).
// buffered (optional): pgt_id -> whether a buffer read for it held any row.
std::map<std::int64_t, bool> PendingForAll(const std::vector<catalog::StreamTable> &tables,
                                           bool skip_locked = false,
                                           std::map<std::int64_t, bool> *buffered = nullptr);

// Why st's next refresh must be FULL because of a marker row in one of its buffers that its
// frontier has not consumed (found by CountPending): 'T' (a source was truncated) or 'R' (the
// buffered changes cannot be carried over: a column changed type, or an upstream stream table was
// rebuilt); nullopt for '\0'.
std::optional<std::string> RebuildReason(char marker);

// Brings the capture of a tracked table in line with its columns after ALTER TABLE, in the DDL's
// transaction, keeping every pending change: buffer columns of dropped source columns are
// dropped, renamed ones renamed, new ones appended; a column whose type (or collation) changed
// gets an 'R' marker (every consumer that has not consumed it refreshes FULL) and NULL for its
// old values. Then recreates or re-enables the capture triggers.
// No-op for untracked tables. Raises 42939 when a column takes a name the buffer reserves.
// Runs as the extension owner. C++ regime; needs SPI.
void EvolveCapture(Oid relid);

// Writes an 'R' marker into relid's change buffer (if relid is tracked): every consumer that has
// not consumed it rebuilds FULL. Used when a stream table's storage is rebuilt or reshaped.
void WriteRebuildMarker(Oid relid);

// In a sql_drop event trigger: raises 2BP01 when a capture trigger of a tracked table is being
// dropped by hand (its changes would be lost); DropCapture removes the tracking row first.
void RefuseCaptureTriggerDrop();

// In a ddl_command_end event trigger: raises 0A000 when ALTER TRIGGER renamed a capture trigger
// (the next ALTER TABLE would recreate it, and changes would be captured twice).
void RefuseCaptureTriggerAlter();

// While alive, DDL run by the capture code itself (on buffers, on its own triggers, on
// partitions' member and routed triggers): the event triggers ignore it (InInternalDdl) and
// pg_trickle's own trigger drops pass the DROP TRIGGER refusals.
class InternalDdlScope {
  public:
	InternalDdlScope();
	~InternalDdlScope();
	InternalDdlScope(const InternalDdlScope &) = delete;
	InternalDdlScope &operator=(const InternalDdlScope &) = delete;
};

// Whether an InternalDdlScope is open.
bool InInternalDdl();

// Tables captured for st (it is one of their consumers).
std::vector<Oid> CapturedTablesOf(std::int64_t pgt_id);

// After a refresh of `refreshed` (in this transaction): deletes the buffer rows of `tables` that
// every consumer still reading them has consumed, and bounds each buffer by
// pg_trickle.max_buffer_rows, marking lagging consumers for a full rebuild (see capture.cpp).
// A buffer whose tracking row another transaction has locked (a consumer being attached or
// detached, or another trim) is skipped. Takes row locks on the tracking rows (and advisory locks
// of marked laggards) until the transaction ends; never waits. C++ regime; needs SPI.
void TrimBuffers(const std::vector<Oid> &tables, const std::vector<std::int64_t> &refreshed);

// Buffer table name (quoted, qualified) of a tracked table, if tracked.
std::optional<std::string> BufferOf(Oid relid);

} // namespace pgtrickle::capture
