// Change capture (SPEC §5, issue "change capture"): statement-level AFTER triggers with transition
// tables copy every change of a tracked base table into its change buffer
// <change_buffer_schema>.changes_<relid>, shared by every stream table reading that table.
//
// Which buffered changes a stream table has consumed is decided by transaction visibility, not by
// sequence order: each buffer row carries the top-level xid of the writing transaction, and each
// stream table stores, as its frontier, the snapshot (pg_snapshot) its last refresh read. A row is
// pending for a stream table iff its xid is not visible in that frontier; a transaction that began
// before a refresh and commits after it is therefore consumed by the next refresh, exactly once.
#pragma once

#include "capture/frontier.hpp"
#include "catalog/catalog.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::capture {

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

// The frontier st's last refresh stored, or nullopt if it never refreshed.
std::optional<Frontier> LoadFrontier(std::int64_t pgt_id);

// Whether any captured base table of st has changes its frontier has not consumed (or st reads an
// uncapturable source, which counts as always changed).
bool HasPendingBaseChanges(const catalog::StreamTable &st);

// Pending change rows of st over all its captured sources; *source_rows gets the sources' size
// for the change ratio of AUTO/DIFFERENTIAL: pg_class.reltuples, or for a table never analyzed a
// count bounded by what the ratio needs (pending / max_ratio + 1 rows).
std::int64_t CountPending(const catalog::StreamTable &st, std::int64_t *source_rows,
                          double max_ratio);

// HasPendingBaseChanges for many stream tables at once (the scheduler's tick): each change
// buffer is read once (its distinct writer xids), and every consumer's frontier is checked in
// C++ (core/visibility.hpp). Returns pgt_id -> pending for the given stream tables.
std::map<std::int64_t, bool> PendingForAll(const std::vector<catalog::StreamTable> &tables);

// Whether a TRUNCATE of a source is pending for st (forces the next refresh to be FULL).
bool HasPendingTruncate(const catalog::StreamTable &st);

// Recreates buffer, function and triggers of a tracked table after ALTER TABLE changed its
// columns, keeping its consumers (whose next refresh is a full rebuild: needs_reinit).
void RebuildCapture(Oid relid);

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
