// Frontiers: which captured changes a refresh consumed (see capture.hpp).
//
// A frontier is the snapshot the refresh read (pg_snapshot text), adjusted so that the
// refreshing transaction's own xid counts as visible, plus that xid and the command id the refresh
// ended at: changes the same transaction makes after the refresh (higher command ids) stay
// pending, and nothing it made before is applied twice.
#pragma once

#include <optional>
#include <string>

namespace pgtrickle::capture {

struct Frontier {
	std::string snapshot;               // pg_snapshot text
	std::optional<std::string> own_xid; // xid8 text
	std::optional<std::string> own_cid; // command id at the end of the refresh
};

// Builds the frontier of a refresh that read `snapshot_text`, called after its last write.
// PG regime helpers under the call guard; C++ regime.
Frontier MakeFrontier(const std::string &snapshot_text);

// SQL predicate "buffer row <alias> is not consumed by the frontier given as $1 (snapshot),
// $2 (xid8 or NULL), $3 (int8 command id or NULL)". Parameter numbers are offset by `base`.
std::string PendingPredicate(const std::string &alias, int base = 0);

} // namespace pgtrickle::capture
