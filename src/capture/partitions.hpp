// Capture of partitioned sources (issue 8 item 3).
//
// A statement fires only the statement triggers of the relation it names: DML addressed to a
// partition (or to an intermediate partitioned table) never fires the root's capture triggers,
// and DML addressed to the root fires only the root's, with transition tables holding the rows
// of every partition converted to the root's row type (row movement included, as UPDATE).
// So a tracked table T with a partition tree gets, on every other member of pg_partition_tree(T)
// (intermediate partitioned tables and leaves), four "member" statement triggers named
// __pgt_member_<T's oid>_{ins,upd,del,trunc} that run T's own capture function. That function
// reads the transition tables by column NAME and inserts by name into T's buffer, so it serves
// members with another physical column order or dropped columns unchanged, and it follows
// ALTER TABLE on T (which propagates to the partitions) without regenerating anything per member.
// Members' trigger names never collide with a member's own capture (__pgt_capture_*), which
// exists when a stream table also reads that partition directly.
//
// Conversely, a tracked table P that is a partition misses DML addressed to its ancestors (the
// root's INSERT routed into P, an UPDATE through the root moving a row into or out of P). Each
// ancestor gets "routed" statement triggers __pgt_routed_<P's oid>_{ins,upd,del} running
// capture_<P>_routed, which copies the transition rows that satisfy P's partition constraint
// (pg_get_partition_constraintdef, CHECK semantics) into P's buffer; it is regenerated whenever
// the tree or its columns change (a DEFAULT partition's constraint depends on its siblings).
//
// Membership changes without DML (ATTACH, DETACH, DROP of a partition) write a TRUNCATE marker
// ('T') into T's buffer, so every consumer rebuilds FULL; DETACH ... CONCURRENTLY of a member of
// a tracked tree is refused (docs/architecture.md says why).
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::capture {

// Installs the member triggers of tracked table `table` on every member of its partition tree
// that lacks them, and (when `table` is itself a partition) the routed triggers on its ancestors
// with a freshly generated routed function; removes both from relations that left the tree.
// Nothing to do for a table outside any partition tree. Needs SPI; runs as the extension owner
// (caller's duty). C++ regime.
void SyncPartitionCaptures(Oid table);

// Removes the member and routed triggers of `table` and its routed function (before its capture
// function is dropped). `schema` is its buffer schema. Needs SPI, as the extension owner.
void DropPartitionCaptures(Oid table, const std::string &schema);

// ddl_command_end of CREATE TABLE ... PARTITION OF and ALTER TABLE: for every tracked table in
// the partition tree of a relation the command created or altered, rebuilds its capture when an
// ALTER on an ancestor changed its columns (capture::EvolveCapture), then synchronises its
// partition captures. `membership_changed` (the command attached or detached a partition) also
// writes a TRUNCATE marker into the buffers of the tracked tables at or above the altered table.
// Needs SPI, as the extension owner.
void OnPartitionDdl(bool membership_changed);

// sql_drop: a dropped relation that carried member triggers was a partition of a tracked table,
// whose contents lost its rows: writes a TRUNCATE marker into that table's buffer. Needs SPI, as
// the extension owner.
void OnPartitionDrop();

// sql_drop: refuses (2BP01) a DROP TRIGGER of a member or routed capture trigger whose table
// still exists (pg_trickle's own drops pass). Needs SPI, as the extension owner.
void RefusePartitionTriggerDrop();

// ddl_command_start of ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY: throws 0A000 when
// `parent` is in the partition tree of a tracked table. Needs SPI.
void CheckConcurrentDetach(Oid parent);

} // namespace pgtrickle::capture
