// Dependency graph of stream tables (see dag.hpp): topological sort with deterministic cycle
// reports, diamond detection over ancestor bitsets, and consistency groups by union-find.
#include "core/dag.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <queue>
#include <string>
#include <utility>

#include "core/pure.hpp"

namespace pgtrickle::core {

namespace {

using Word = std::uint64_t;
constexpr std::size_t kWordBits = 64;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Nodes sorted by pgt_id with normalized sources: the canonical form every later step works on,
// so that nothing downstream can depend on the caller's row order.
struct Prepared {
	std::vector<StNode> nodes;                        // sorted by pgt_id
	std::vector<std::vector<std::size_t>> st_sources; // ST inputs as indexes into nodes, ascending
};

bool EdgeLess(const SourceEdge &a, const SourceEdge &b) {
	return std::make_pair(a.is_stream_table, a.id) < std::make_pair(b.is_stream_table, b.id);
}

bool EdgeEqual(const SourceEdge &a, const SourceEdge &b) {
	return a.is_stream_table == b.is_stream_table && a.id == b.id;
}

std::size_t FindById(const std::vector<StNode> &sorted, std::int64_t pgt_id) {
	auto it =
	    std::lower_bound(sorted.begin(), sorted.end(), pgt_id,
	                     [](const StNode &node, std::int64_t id) { return node.pgt_id < id; });
	if (it == sorted.end() || it->pgt_id != pgt_id) {
		return kNone;
	}
	return static_cast<std::size_t>(it - sorted.begin());
}

// Sorts nodes and their sources and resolves stream-table edges. An edge to an unknown stream
// table means the catalog is inconsistent; treating it as a base source would silently drop a
// dependency, so it is an internal error.
Prepared Prepare(std::vector<StNode> nodes) {
	Prepared p;
	std::sort(nodes.begin(), nodes.end(),
	          [](const StNode &a, const StNode &b) { return a.pgt_id < b.pgt_id; });
	for (std::size_t i = 1; i < nodes.size(); i++) {
		if (nodes[i].pgt_id == nodes[i - 1].pgt_id) {
			throw Error(kSqlstateInternalError, "duplicate stream table id " +
			                                        std::to_string(nodes[i].pgt_id) +
			                                        " in dependency graph");
		}
	}
	p.st_sources.resize(nodes.size());
	for (std::size_t i = 0; i < nodes.size(); i++) {
		auto &sources = nodes[i].sources;
		std::sort(sources.begin(), sources.end(), EdgeLess);
		sources.erase(std::unique(sources.begin(), sources.end(), EdgeEqual), sources.end());
		for (const SourceEdge &edge : sources) {
			if (!edge.is_stream_table) {
				continue;
			}
			std::size_t source = FindById(nodes, edge.id);
			if (source == kNone) {
				throw Error(kSqlstateInternalError, "unknown stream table id " +
				                                        std::to_string(edge.id) +
				                                        " in sources of " + nodes[i].display_name);
			}
			// Sources are sorted by id and so are nodes: indexes come out ascending.
			p.st_sources[i].push_back(source);
		}
	}
	p.nodes = std::move(nodes);
	return p;
}

// Called when Kahn's algorithm leaves nodes behind. Every such node still has an unprocessed
// stream-table source, so walking backwards through the smallest remaining source must loop; the
// loop is reported forwards (source -> reader) starting at its smallest pgt_id, which makes the
// message independent of input order.
[[noreturn]] void ThrowCycle(const Prepared &p, const std::vector<bool> &done) {
	std::size_t start = 0;
	while (done[start]) {
		start++;
	}
	std::vector<std::size_t> path;
	std::vector<std::size_t> pos_in_path(p.nodes.size(), kNone);
	std::size_t cur = start;
	while (pos_in_path[cur] == kNone) {
		pos_in_path[cur] = path.size();
		path.push_back(cur);
		std::size_t next = kNone;
		for (std::size_t source : p.st_sources[cur]) {
			if (!done[source]) {
				next = source;
				break;
			}
		}
		cur = next; // never kNone: a remaining node has a remaining source
	}
	std::vector<std::size_t> cycle(path.begin() + static_cast<std::ptrdiff_t>(pos_in_path[cur]),
	                               path.end());
	std::reverse(cycle.begin(), cycle.end());
	std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
	std::string text;
	for (std::size_t index : cycle) {
		text += p.nodes[index].display_name + " -> ";
	}
	text += p.nodes[cycle.front()].display_name;
	throw Error(kSqlstateInvalidObjectDefinition, "cycle detected in dependency graph: " + text);
}

// Kahn's algorithm over stream tables, smallest ready pgt_id first (indexes are in pgt_id order,
// so a min-heap of indexes is enough). Returns indexes in topological order.
std::vector<std::size_t> TopoSort(const Prepared &p) {
	std::size_t n = p.nodes.size();
	std::vector<std::size_t> in_degree(n, 0);
	std::vector<std::vector<std::size_t>> readers(n);
	for (std::size_t i = 0; i < n; i++) {
		in_degree[i] = p.st_sources[i].size();
		for (std::size_t source : p.st_sources[i]) {
			readers[source].push_back(i);
		}
	}
	std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<std::size_t>> ready;
	for (std::size_t i = 0; i < n; i++) {
		if (in_degree[i] == 0) {
			ready.push(i);
		}
	}
	std::vector<std::size_t> order;
	order.reserve(n);
	std::vector<bool> done(n, false);
	while (!ready.empty()) {
		std::size_t i = ready.top();
		ready.pop();
		order.push_back(i);
		done[i] = true;
		for (std::size_t reader : readers[i]) {
			if (--in_degree[reader] == 0) {
				ready.push(reader);
			}
		}
	}
	if (order.size() != n) {
		ThrowCycle(p, done);
	}
	return order;
}

// Fixed-width bitsets stored row after row in one allocation: row r is the branch of stream table
// r (itself plus every ancestor, base sources included). Bits [0, n) are stream tables by
// topological position, bits [n, n + bases) are base sources.
class BranchRows {
  public:
	BranchRows(std::size_t rows, std::size_t bits)
	    : width_((bits + kWordBits - 1) / kWordBits), words_(rows * width_, 0) {
	}
	std::size_t Width() const {
		return width_;
	}
	Word *Row(std::size_t r) {
		return words_.data() + r * width_;
	}
	const Word *Row(std::size_t r) const {
		return words_.data() + r * width_;
	}

  private:
	std::size_t width_;
	std::vector<Word> words_;
};

bool TestBit(const Word *row, std::size_t bit) {
	return (row[bit / kWordBits] >> (bit % kWordBits)) & 1u;
}

void SetBit(Word *row, std::size_t bit) {
	row[bit / kWordBits] |= Word{1} << (bit % kWordBits);
}

bool Intersects(const Word *a, const Word *b, std::size_t width) {
	for (std::size_t w = 0; w < width; w++) {
		if (a[w] & b[w]) {
			return true;
		}
	}
	return false;
}

class UnionFind {
  public:
	explicit UnionFind(std::size_t n) : parent_(n) {
		std::iota(parent_.begin(), parent_.end(), 0);
	}
	std::size_t Find(std::size_t x) {
		while (parent_[x] != x) {
			parent_[x] = parent_[parent_[x]];
			x = parent_[x];
		}
		return x;
	}
	void Union(std::size_t a, std::size_t b) {
		a = Find(a);
		b = Find(b);
		if (a != b) {
			parent_[std::max(a, b)] = std::min(a, b);
		}
	}

  private:
	std::vector<std::size_t> parent_;
};

} // namespace

Dag Dag::Build(std::vector<StNode> input) {
	Prepared p = Prepare(std::move(input));
	std::vector<std::size_t> order = TopoSort(p);
	std::size_t n = order.size();

	// Renumber everything by topological position: sources then always precede readers.
	Dag dag;
	std::vector<std::size_t> position(n);
	for (std::size_t t = 0; t < n; t++) {
		position[order[t]] = t;
	}
	std::vector<std::vector<std::size_t>> st_sources(n);
	dag.nodes_.reserve(n);
	dag.topo_.reserve(n);
	for (std::size_t t = 0; t < n; t++) {
		for (std::size_t source : p.st_sources[order[t]]) {
			st_sources[t].push_back(position[source]);
		}
		dag.nodes_.push_back(std::move(p.nodes[order[t]]));
		dag.topo_.push_back(dag.nodes_.back().pgt_id);
	}
	dag.by_id_.resize(n);
	std::iota(dag.by_id_.begin(), dag.by_id_.end(), 0);
	std::sort(dag.by_id_.begin(), dag.by_id_.end(), [&dag](std::size_t a, std::size_t b) {
		return dag.nodes_[a].pgt_id < dag.nodes_[b].pgt_id;
	});
	dag.readers_.resize(n);
	for (std::size_t t = 0; t < n; t++) {
		for (std::size_t source : st_sources[t]) {
			dag.readers_[source].push_back(t);
		}
	}

	// Base sources get bits after the stream tables, numbered in OID order.
	std::vector<std::int64_t> base_ids;
	for (const StNode &node : dag.nodes_) {
		for (const SourceEdge &edge : node.sources) {
			if (!edge.is_stream_table) {
				base_ids.push_back(edge.id);
			}
		}
	}
	std::sort(base_ids.begin(), base_ids.end());
	base_ids.erase(std::unique(base_ids.begin(), base_ids.end()), base_ids.end());
	auto base_bit = [&](std::int64_t oid) {
		return n + static_cast<std::size_t>(
		               std::lower_bound(base_ids.begin(), base_ids.end(), oid) - base_ids.begin());
	};

	// Branches once, in topological order: each is the union of its inputs' branches.
	BranchRows branch(n, n + base_ids.size());
	std::size_t width = branch.Width();
	std::vector<std::vector<std::size_t>> base_sources(n);
	for (std::size_t t = 0; t < n; t++) {
		Word *row = branch.Row(t);
		SetBit(row, t);
		for (std::size_t source : st_sources[t]) {
			const Word *src = branch.Row(source);
			for (std::size_t w = 0; w < width; w++) {
				row[w] |= src[w];
			}
		}
		for (const SourceEdge &edge : dag.nodes_[t].sources) {
			if (!edge.is_stream_table) {
				std::size_t bit = base_bit(edge.id);
				base_sources[t].push_back(bit);
				SetBit(row, bit);
			}
		}
	}

	// Diamonds. For fan-in node D, a pair of distinct inputs (Ui, Uj) forms a diamond iff their
	// branches intersect; its intermediates are the stream tables in exactly one of the two
	// branches (the symmetric difference). D's group part is the union over all such pairs.
	// Base inputs have the one-bit branch {b}: the pair (b, U) is a diamond iff b is in U's
	// branch, with intermediates the stream tables of U's branch; two base inputs never overlap.
	std::size_t st_words = (n + kWordBits - 1) / kWordBits;
	Word last_mask = (n % kWordBits == 0) ? ~Word{0} : ((Word{1} << (n % kWordBits)) - 1);
	std::vector<Word> intermediates(st_words);
	std::vector<bool> in_group(n, false);
	std::vector<bool> is_convergence(n, false);
	UnionFind sets(n);
	for (std::size_t d = 0; d < n; d++) {
		const std::vector<std::size_t> &sts = st_sources[d];
		const std::vector<std::size_t> &bases = base_sources[d];
		if (sts.size() + bases.size() < 2 || sts.empty()) {
			continue;
		}
		std::fill(intermediates.begin(), intermediates.end(), 0);
		bool diamond = false;
		for (std::size_t i = 0; i < sts.size(); i++) {
			const Word *bi = branch.Row(sts[i]);
			for (std::size_t j = i + 1; j < sts.size(); j++) {
				const Word *bj = branch.Row(sts[j]);
				if (!Intersects(bi, bj, width)) {
					continue;
				}
				diamond = true;
				for (std::size_t w = 0; w < st_words; w++) {
					intermediates[w] |= bi[w] ^ bj[w];
				}
			}
			for (std::size_t bit : bases) {
				if (!TestBit(bi, bit)) {
					continue;
				}
				diamond = true;
				for (std::size_t w = 0; w < st_words; w++) {
					intermediates[w] |= bi[w];
				}
			}
		}
		if (!diamond) {
			continue;
		}
		intermediates[st_words - 1] &= last_mask;
		is_convergence[d] = true;
		in_group[d] = true;
		for (std::size_t w = 0; w < st_words; w++) {
			for (Word bits = intermediates[w]; bits != 0; bits &= bits - 1) {
				std::size_t member =
				    w * kWordBits + static_cast<std::size_t>(__builtin_ctzll(bits));
				in_group[member] = true;
				sets.Union(member, d);
			}
		}
	}

	// Groups in order of their first member's topological position; members and convergence
	// points come out in topological order because t runs in that order.
	std::vector<std::size_t> group_of_root(n, kNone);
	dag.group_of_.resize(n);
	for (std::size_t t = 0; t < n; t++) {
		const StNode &node = dag.nodes_[t];
		std::size_t root = in_group[t] ? sets.Find(t) : t;
		if (!in_group[t] || group_of_root[root] == kNone) {
			group_of_root[root] = dag.groups_.size();
			dag.groups_.push_back(Group{{}, {}, node.policy, true});
		}
		std::size_t g = group_of_root[root];
		Group &group = dag.groups_[g];
		dag.group_of_[t] = g;
		group.members.push_back(node.pgt_id);
		if (is_convergence[t]) {
			group.convergence.push_back(node.pgt_id);
		}
		group.atomic = group.atomic && node.consistency == DiamondConsistency::kAtomic;
	}
	// Strictest wins over convergence points only; a singleton keeps its own policy.
	for (Group &group : dag.groups_) {
		if (group.IsSingleton()) {
			group.atomic = false;
			continue;
		}
		group.policy = SchedulePolicy::kFastest;
		for (std::int64_t id : group.convergence) {
			group.policy = Stricter(group.policy, dag.Node(id).policy);
		}
	}
	return dag;
}

const std::vector<std::int64_t> &Dag::TopologicalOrder() const {
	return topo_;
}

const std::vector<Group> &Dag::Groups() const {
	return groups_;
}

std::size_t Dag::IndexOf(std::int64_t pgt_id) const {
	auto it = std::lower_bound(
	    by_id_.begin(), by_id_.end(), pgt_id,
	    [this](std::size_t index, std::int64_t id) { return nodes_[index].pgt_id < id; });
	if (it == by_id_.end() || nodes_[*it].pgt_id != pgt_id) {
		throw Error(kSqlstateInternalError, "unknown stream table id " + std::to_string(pgt_id));
	}
	return *it;
}

const StNode &Dag::Node(std::int64_t pgt_id) const {
	return nodes_[IndexOf(pgt_id)];
}

std::size_t Dag::GroupOf(std::int64_t pgt_id) const {
	return group_of_[IndexOf(pgt_id)];
}

std::vector<std::int64_t> Dag::Downstream(std::int64_t pgt_id) const {
	std::size_t start = IndexOf(pgt_id);
	std::vector<bool> seen(nodes_.size(), false);
	std::vector<std::size_t> stack{start};
	std::vector<std::size_t> found;
	while (!stack.empty()) {
		std::size_t t = stack.back();
		stack.pop_back();
		for (std::size_t reader : readers_[t]) {
			if (!seen[reader]) {
				seen[reader] = true;
				found.push_back(reader);
				stack.push_back(reader);
			}
		}
	}
	// Indexes are topological positions.
	std::sort(found.begin(), found.end());
	std::vector<std::int64_t> result;
	result.reserve(found.size());
	for (std::size_t t : found) {
		result.push_back(topo_[t]);
	}
	return result;
}

void CheckNoCycle(const std::vector<StNode> &existing, const StNode &candidate) {
	std::vector<StNode> nodes;
	nodes.reserve(existing.size() + 1);
	for (const StNode &node : existing) {
		if (node.pgt_id != candidate.pgt_id) {
			nodes.push_back(node);
		}
	}
	nodes.push_back(candidate);
	TopoSort(Prepare(std::move(nodes)));
}

bool GroupDue(SchedulePolicy policy, const std::vector<bool> &member_due) {
	if (member_due.empty()) {
		return false;
	}
	if (policy == SchedulePolicy::kSlowest) {
		return std::all_of(member_due.begin(), member_due.end(), [](bool due) { return due; });
	}
	return std::any_of(member_due.begin(), member_due.end(), [](bool due) { return due; });
}

} // namespace pgtrickle::core
