// Dependency graph of stream tables: topological order, cycle detection, diamond detection and
// consistency groups (SPEC §6). Pure C++: the catalog layer builds StNode values from
// pgt_dependencies, the scheduler and diamond_groups() read the result.
#pragma once

#include "core/options.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pgtrickle::core {

// One input of a stream table. Stream tables and base sources live in separate id spaces: a base
// relation with OID 42 and the stream table with pgt_id 42 are different nodes.
struct SourceEdge {
	bool is_stream_table;
	std::int64_t id; // pgt_id of a stream table, or relation OID of a base source (table, view...)
};

struct StNode {
	std::int64_t pgt_id;
	std::string display_name;        // "schema.name", used in messages
	std::vector<SourceEdge> sources; // may contain duplicates; ST ids must name a node of the DAG
	SchedulePolicy policy = SchedulePolicy::kFastest;
	DiamondConsistency consistency = DiamondConsistency::kAtomic;
};

// A set of stream tables the scheduler refreshes as one unit (or a singleton).
struct Group {
	std::vector<std::int64_t> members; // pgt_ids in topological order
	std::vector<std::int64_t>
	    convergence;       // fan-in nodes of the group's diamonds, topological order
	SchedulePolicy policy; // slowest if any convergence point is slowest; singleton: its own
	bool atomic;           // size > 1 and every member is kAtomic
	bool IsSingleton() const {
		return members.size() == 1;
	}
};

class Dag {
  public:
	// Builds the graph and derives order, diamonds and groups. The result depends only on the
	// set of nodes and edges, never on their order in the input.
	// Throws Error 42P17 "cycle detected in dependency graph: a.x -> a.y -> a.x" (edges point from
	// source to reader, the path starts at the cycle's smallest pgt_id), and Error XX000 for an
	// edge to an unknown stream table id or a duplicate pgt_id.
	static Dag Build(std::vector<StNode> nodes);

	// Stream tables only; Kahn's algorithm taking the smallest ready pgt_id first.
	const std::vector<std::int64_t> &TopologicalOrder() const;
	// All groups including singletons, ordered by the topological position of their first member;
	// every stream table is in exactly one group.
	const std::vector<Group> &Groups() const;
	// The node as given to Build, with its sources sorted and de-duplicated.
	// Throws Error XX000 for an unknown pgt_id.
	const StNode &Node(std::int64_t pgt_id) const;
	// Index into Groups() of the group holding pgt_id. Throws Error XX000 for an unknown pgt_id.
	std::size_t GroupOf(std::int64_t pgt_id) const;
	// Stream tables that (transitively) read pgt_id, in topological order, pgt_id itself excluded.
	// Used for drop cascades and refresh ordering. Throws Error XX000 for an unknown pgt_id.
	std::vector<std::int64_t> Downstream(std::int64_t pgt_id) const;

  private:
	Dag() = default;
	std::size_t IndexOf(std::int64_t pgt_id) const;

	// Everything is indexed by topological position.
	std::vector<StNode> nodes_;
	std::vector<std::int64_t> topo_;                          // pgt_ids of nodes_
	std::vector<std::pair<std::int64_t, std::size_t>> by_id_; // (pgt_id, index) sorted, for lookups
	std::vector<std::size_t>
	    reader_begin_; // readers of node i: reader_list_[begin_[i], begin_[i+1])
	std::vector<std::size_t> reader_list_;
	std::vector<Group> groups_;
	std::vector<std::size_t> group_of_;
};

// Would adding `candidate` (new pgt_id) or replacing the node with its pgt_id create a cycle?
// Throws the same errors as Dag::Build; used at create/alter time before touching the catalog.
void CheckNoCycle(const std::vector<StNode> &existing, const StNode &candidate);

// Policy fold of a group's due flags: fastest fires when any member is due, slowest only when all
// are; an empty group is never due.
bool GroupDue(SchedulePolicy policy, const std::vector<bool> &member_due);

} // namespace pgtrickle::core
