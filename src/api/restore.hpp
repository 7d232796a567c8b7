// Stream tables restored from a dump (docs/operations.md "Backup and restore"): the restore
// trigger on the catalog (pgtrickle._on_catalog_restore) resolves their storage table again and
// marks them needs_rebind; RebindRestored finishes the job on first use.
#pragma once

namespace pgtrickle::api {

// Rebinds every restored stream table whose storage table is complete (its __pgt_block_dml
// trigger, restored after its rows, exists): drops the capture objects the dump brought along
// (named after the old OIDs), analyzes defining_query again as the owner, records the
// dependencies (catalog rows and pg_depend) and attaches fresh change capture. The table stays
// needs_reinit, so its next refresh rebuilds it FULL. A table that cannot be rebound (its query
// no longer analyzes) stays pending with a WARNING and last_error_message, and is retried a
// minute later. Cheap when nothing is pending. C++ regime;
// needs SPI and a transaction.
// With wait_quiet (the scheduler), only once no CREATE TRIGGER has run for 5 seconds since the
// rows were restored (event trigger pgtrickle_restore_ddl): a restore that is still creating the
// dumped triggers must not meet the fresh ones. A manual refresh does not wait.
void RebindRestored(bool wait_quiet);

// Analyzes every stream table's defining_query again and stores the parse tree when it differs
// (run when a scheduler starts), for the stream tables whose stored tree no longer deparses to
// the stored text; rows other transactions hold are skipped, never waited for. pg_upgrade keeps
// relation and type OIDs but not those of functions and operators, which the stored tree names; the
// tree is deparsed again when a source is renamed. A query that fails to analyze keeps its tree.
// Never waits long for a relation lock (a user transaction dropping several stream tables could
// otherwise deadlock with it): a stream table whose relations stay locked past a short
// lock_timeout is left as it is, and false is returned so that the caller tries again later.
// C++ regime; needs SPI.
bool RefreshDefiningTrees();

} // namespace pgtrickle::api
