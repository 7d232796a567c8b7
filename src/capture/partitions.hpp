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
// Membership changes without DML (ATTACH, DETACH, DROP of a partition) write a TRUNCATE marker
// ('T') into T's buffer, so every consumer rebuilds FULL; DETACH ... CONCURRENTLY of a member of
// a tracked tree is refused (docs/architecture.md says why).
#pragma once

#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::capture {

// Installs the member triggers of tracked table `root` on every member of its partition tree
// that lacks them and removes them from relations that left the tree. A no-op for a table that
// is not partitioned. Needs SPI; runs as the extension owner (caller's duty). C++ regime.
void SyncMemberCaptures(Oid root);

// Removes the member triggers of `root` from every relation (before its capture function is
// dropped). Needs SPI, as the extension owner.
void DropMemberCaptures(Oid root);

// ddl_command_end of CREATE TABLE / ALTER TABLE: synchronises the member triggers of every
// tracked table whose partition tree contains a relation the command created or altered;
// `membership_changed` (the command attached or detached a partition) also writes a TRUNCATE
// marker into their buffers. Needs SPI, as the extension owner.
void OnPartitionDdl(bool membership_changed);

// sql_drop: a dropped relation that carried member triggers was a partition of a tracked table,
// whose contents lost its rows: writes a TRUNCATE marker into that table's buffer. Needs SPI, as
// the extension owner.
void OnPartitionDrop();

// ddl_command_start of ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY: throws 0A000 when
// `parent` is in the partition tree of a tracked table. Needs SPI.
void CheckConcurrentDetach(Oid parent);

} // namespace pgtrickle::capture
