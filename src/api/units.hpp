// Refresh units: a stream table alone, or the whole atomic consistency group it belongs to.
#pragma once

#include "pgt_catalog/catalog.hpp"
#include "core/dag.hpp"

#include <optional>
#include <vector>

namespace pgtrickle::api {

struct Unit {
	std::vector<catalog::StreamTable> members; // topological order
	std::optional<int> group_id;               // diamond_groups() id when in a non-singleton group
	bool atomic = false;                       // refreshed as one atomic group
};

// diamond_groups() numbering: non-singleton groups are 1..n in the DAG's group order; index i of
// dag.Groups() maps to result[i] (nullopt for singletons).
std::vector<std::optional<int>> GroupNumbers(const core::Dag &dag);

// The unit to refresh for pgt_id. With whole_group, a member of an atomic group brings the whole
// group (SPEC §5: refreshing one member alone could split the convergence node).
Unit FindUnit(std::int64_t pgt_id, bool whole_group);

} // namespace pgtrickle::api
