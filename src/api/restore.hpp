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
// no longer analyzes) stays pending with a WARNING. Cheap when nothing is pending. C++ regime;
// needs SPI and a transaction.
void RebindRestored();

} // namespace pgtrickle::api
