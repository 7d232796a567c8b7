// Dependency graph of stream tables (see dag.hpp): topological sort with deterministic cycle
// reports, diamond detection over ancestor bitsets, and consistency groups by union-find.
// Cost of Dag::Build for n stream tables and e edges: O((n + e) log n) for sorting plus
// O((n + e) * w) 64-bit word operations, w being the bitset width ((stream tables + base
// sources) / 64); the only term beyond that is O(k^2) overlap tests on the short root prefix of
// the bitsets at a stream table with k inputs. Figures: docs/benchmarks.md.
#include "core/dag.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <utility>

#include "core/pure.hpp"

namespace pgtrickle::core {

namespace {

using Word = std::uint64_t;
constexpr std::size_t kWordBits = 64;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Adjacency lists in one allocation (compressed sparse rows): row i is list[begin[i], begin[i+1]).
// Tens of thousands of small vectors cost more in malloc than the graph work itself.
struct Csr {
	std::vector<std::size_t> begin{0};
	std::vector<std::size_t> list;

	void EndRow() {
		begin.push_back(list.size());
	}
	const std::size_t *RowBegin(std::size_t i) const {
		return list.data() + begin[i];
	}
	const std::size_t *RowEnd(std::size_t i) const {
		return list.data() + begin[i + 1];
	}
	std::size_t RowSize(std::size_t i) const {
		return begin[i + 1] - begin[i];
	}
};

// Nodes sorted by pgt_id with normalized sources: the canonical form every later step works on,
// so that nothing downstream can depend on the caller's row order.
struct Prepared {
	std::vector<StNode> nodes; // sorted by pgt_id
	Csr st_sources;            // ST inputs as indexes into nodes, ascending
};

// Position of each id in a sorted, duplicate-free id list. Resolving every edge is a lookup, and
// a binary search there costs a chain of dependent, mispredicted loads; pgt_ids come from a
// sequence and are usually dense, so a direct table is used when the id range is at most a few
// times the count, and a branch-free binary search otherwise.
class IdIndex {
  public:
	explicit IdIndex(const std::vector<std::int64_t> &sorted_ids) : ids_(sorted_ids) {
		if (ids_.empty()) {
			return;
		}
		min_ = ids_.front();
		std::uint64_t range = Offset(ids_.back());
		if (range < 4 * static_cast<std::uint64_t>(ids_.size()) + 64) {
			table_.assign(range + 1, kNone);
			for (std::size_t i = 0; i < ids_.size(); i++) {
				table_[Offset(ids_[i])] = i;
			}
		}
	}

	// Index of id, or kNone.
	std::size_t Find(std::int64_t id) const {
		if (ids_.empty()) {
			return kNone;
		}
		if (!table_.empty()) {
			return id < min_ || Offset(id) >= table_.size() ? kNone : table_[Offset(id)];
		}
		const std::int64_t *base = ids_.data();
		for (std::size_t len = ids_.size(); len > 1;) {
			std::size_t half = len / 2;
			base = base[half - 1] < id ? base + half : base;
			len -= half;
		}
		return *base == id ? static_cast<std::size_t>(base - ids_.data()) : kNone;
	}

  private:
	// Computed in unsigned arithmetic: the difference of two int64 may not fit in an int64.
	std::uint64_t Offset(std::int64_t id) const {
		return static_cast<std::uint64_t>(id) - static_cast<std::uint64_t>(min_);
	}

	const std::vector<std::int64_t> &ids_;
	std::int64_t min_ = 0;
	std::vector<std::size_t> table_;
};

// Base sources first, then stream tables, each by id.
struct EdgeLess {
	bool operator()(const SourceEdge &a, const SourceEdge &b) const {
		return a.is_stream_table != b.is_stream_table ? b.is_stream_table : a.id < b.id;
	}
};

struct EdgeEqual {
	bool operator()(const SourceEdge &a, const SourceEdge &b) const {
		return a.is_stream_table == b.is_stream_table && a.id == b.id;
	}
};

// Sorts nodes and their sources and resolves stream-table edges. An edge to an unknown stream
// table means the catalog is inconsistent; treating it as a base source would silently drop a
// dependency, so it is an internal error.
Prepared Prepare(std::vector<StNode> input) {
	std::size_t n = input.size();
	// Sort (id, index) pairs rather than the nodes: moving strings around is the expensive part.
	std::vector<std::pair<std::int64_t, std::size_t>> by_id(n);
	for (std::size_t i = 0; i < n; i++) {
		by_id[i] = {input[i].pgt_id, i};
	}
	std::sort(by_id.begin(), by_id.end());
	std::vector<std::int64_t> ids(n);
	for (std::size_t i = 0; i < n; i++) {
		ids[i] = by_id[i].first;
		if (i > 0 && ids[i] == ids[i - 1]) {
			throw Error(kSqlstateInternalError, "duplicate stream table id " +
			                                        std::to_string(ids[i]) +
			                                        " in dependency graph");
		}
	}
	IdIndex index(ids);
	Prepared p;
	p.nodes.reserve(n);
	p.st_sources.begin.reserve(n + 1);
	for (std::size_t i = 0; i < n; i++) {
		p.nodes.push_back(std::move(input[by_id[i].second]));
		auto &sources = p.nodes.back().sources;
		std::sort(sources.begin(), sources.end(), EdgeLess());
		sources.erase(std::unique(sources.begin(), sources.end(), EdgeEqual()), sources.end());
		for (const SourceEdge &edge : sources) {
			if (!edge.is_stream_table) {
				continue;
			}
			std::size_t source = index.Find(edge.id);
			if (source == kNone) {
				throw Error(kSqlstateInternalError,
				            "unknown stream table id " + std::to_string(edge.id) +
				                " in sources of " + p.nodes.back().display_name);
			}
			// Sources are sorted by id and so are nodes: indexes come out ascending.
			p.st_sources.list.push_back(source);
		}
		p.st_sources.EndRow();
	}
	return p;
}

// Called when Kahn's algorithm leaves nodes behind. Every such node still has an unprocessed
// stream-table source, so walking backwards through the smallest remaining source must loop; the
// loop is reported forwards (source -> reader) starting at its smallest pgt_id, which makes the
// message independent of input order.
[[noreturn]] void ThrowCycle(const Prepared &p, const std::vector<char> &done) {
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
		for (const std::size_t *s = p.st_sources.RowBegin(cur); s != p.st_sources.RowEnd(cur);
		     s++) {
			if (!done[*s]) {
				next = *s;
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

// Readers of each node, from the sources of each node; rows come out in ascending reader order.
Csr Transpose(const Csr &sources, std::size_t n) {
	Csr readers;
	readers.begin.assign(n + 1, 0);
	for (std::size_t s : sources.list) {
		readers.begin[s + 1]++;
	}
	std::partial_sum(readers.begin.begin(), readers.begin.end(), readers.begin.begin());
	readers.list.resize(sources.list.size());
	std::vector<std::size_t> fill(readers.begin.begin(), readers.begin.end() - 1);
	for (std::size_t i = 0; i < n; i++) {
		for (const std::size_t *s = sources.RowBegin(i); s != sources.RowEnd(i); s++) {
			readers.list[fill[*s]++] = i;
		}
	}
	return readers;
}

// Kahn's algorithm over stream tables, smallest ready pgt_id first (indexes are in pgt_id order,
// so a min-heap of indexes is enough). Returns indexes in topological order.
std::vector<std::size_t> TopoSort(const Prepared &p) {
	std::size_t n = p.nodes.size();
	Csr readers = Transpose(p.st_sources, n);
	std::vector<std::size_t> in_degree(n);
	std::vector<std::size_t> heap;
	for (std::size_t i = 0; i < n; i++) {
		in_degree[i] = p.st_sources.RowSize(i);
		if (in_degree[i] == 0) {
			heap.push_back(i); // ascending, hence already a valid min-heap
		}
	}
	std::vector<std::size_t> order;
	order.reserve(n);
	std::vector<char> done(n, 0);
	auto greater = std::greater<std::size_t>();
	while (!heap.empty()) {
		std::pop_heap(heap.begin(), heap.end(), greater);
		std::size_t i = heap.back();
		heap.pop_back();
		order.push_back(i);
		done[i] = 1;
		for (const std::size_t *r = readers.RowBegin(i); r != readers.RowEnd(i); r++) {
			if (--in_degree[*r] == 0) {
				heap.push_back(*r);
				std::push_heap(heap.begin(), heap.end(), greater);
			}
		}
	}
	if (order.size() != n) {
		ThrowCycle(p, done);
	}
	return order;
}

std::size_t WordsFor(std::size_t bits) {
	return (bits + kWordBits - 1) / kWordBits;
}

bool TestBit(const Word *row, std::size_t bit) {
	return (row[bit / kWordBits] >> (bit % kWordBits)) & 1u;
}

void SetBit(Word *row, std::size_t bit) {
	row[bit / kWordBits] |= Word{1} << (bit % kWordBits);
}

std::size_t LowestBit(Word word) {
	return static_cast<std::size_t>(__builtin_ctzll(word));
}

bool Intersects(const Word *a, const Word *b, std::size_t words) {
	for (std::size_t w = 0; w < words; w++) {
		if (a[w] & b[w]) {
			return true;
		}
	}
	return false;
}

// Union-find root with path halving.
std::size_t FindRoot(std::vector<std::size_t> &parent, std::size_t x) {
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

// The branch of every stream table (itself plus all its ancestors, base sources included) as a
// bitset, computed once in topological order as the union of its inputs' branches.
//
// Bit layout, shared by every bitset of Dag::Build: first the roots, i.e. base sources (in OID
// order) and one synthetic bit per stream table that reads nothing at all, then stream tables by
// topological position. Every branch contains a root and is closed under ancestors, so two
// branches intersect iff they share a root bit: overlap tests only read the short root prefix.
// And a branch has no bit above its own, so row t only needs RowWords(t) words; rows are stored
// and processed at that length, which halves memory and work compared with full-width rows.
class Branches {
  public:
	// nodes and st_sources are indexed by topological position.
	Branches(const std::vector<StNode> &nodes, const Csr &st_sources) {
		std::size_t n = nodes.size();
		std::vector<std::int64_t> base_ids;
		for (const StNode &node : nodes) {
			for (const SourceEdge &edge : node.sources) {
				if (!edge.is_stream_table) {
					base_ids.push_back(edge.id);
				}
			}
		}
		std::sort(base_ids.begin(), base_ids.end());
		base_ids.erase(std::unique(base_ids.begin(), base_ids.end()), base_ids.end());
		base_sources_.begin.reserve(n + 1);
		IdIndex base_index(base_ids);
		for (const StNode &node : nodes) {
			for (const SourceEdge &edge : node.sources) {
				if (!edge.is_stream_table) {
					base_sources_.list.push_back(base_index.Find(edge.id));
				}
			}
			base_sources_.EndRow();
		}
		first_st_bit_ = base_ids.size();
		std::vector<std::size_t> synthetic_root(n, kNone);
		for (std::size_t t = 0; t < n; t++) {
			if (nodes[t].sources.empty()) {
				synthetic_root[t] = first_st_bit_++;
			}
		}
		width_ = WordsFor(first_st_bit_ + n);
		// Rows are stored back to back, each only as long as its prefix, and left uninitialized
		// until written: half the memory of full rows, and half the page faults.
		row_start_.resize(n + 1);
		row_start_[0] = 0;
		for (std::size_t t = 0; t < n; t++) {
			row_start_[t + 1] = row_start_[t] + RowWords(t);
		}
		rows_.reset(new Word[row_start_[n]]);
		for (std::size_t t = 0; t < n; t++) {
			Word *row = rows_.get() + row_start_[t];
			std::fill_n(row, RowWords(t), 0);
			SetBit(row, StBit(t));
			if (synthetic_root[t] != kNone) {
				SetBit(row, synthetic_root[t]);
			}
			for (const std::size_t *s = st_sources.RowBegin(t); s != st_sources.RowEnd(t); s++) {
				const Word *src = Row(*s);
				for (std::size_t w = 0, src_words = RowWords(*s); w < src_words; w++) {
					row[w] |= src[w];
				}
			}
			for (const std::size_t *b = base_sources_.RowBegin(t); b != base_sources_.RowEnd(t);
			     b++) {
				SetBit(row, *b);
			}
		}
	}

	const Word *Row(std::size_t t) const {
		return rows_.get() + row_start_[t];
	}
	std::size_t RowWords(std::size_t t) const {
		return WordsFor(StBit(t) + 1);
	}
	std::size_t RootWords() const {
		return WordsFor(first_st_bit_);
	}
	std::size_t Width() const {
		return width_;
	}
	std::size_t StBit(std::size_t t) const {
		return first_st_bit_ + t;
	}
	std::size_t FirstStBit() const {
		return first_st_bit_;
	}
	// Bits of the base sources each stream table reads directly.
	const Csr &BaseSources() const {
		return base_sources_;
	}

  private:
	std::size_t first_st_bit_ = 0;
	std::size_t width_ = 0;
	Csr base_sources_;
	std::vector<std::size_t> row_start_;
	std::unique_ptr<Word[]> rows_;
};

// Diamond detection at one fan-in stream table D.
//
// A pair of distinct inputs (Ui, Uj) of D forms a diamond iff their branches intersect; its
// intermediates are the stream tables in exactly one of the two branches. D's intermediates are
// the union of these symmetric differences over all intersecting pairs. Summing over pairs would
// cost k^2 full rows for k inputs; instead, the union equals, over each connected component C of
// the "branches intersect" graph on D's inputs that has two or more inputs, (union of C's
// branches) minus (their intersection): if x is in one branch of C and not in another, some
// intersecting pair on the path between them differs on x. Components come from cheap root-prefix
// tests, then each input's row is read once. A base input b has the one-bit branch {b}: it joins
// the component of every input whose branch holds b and leaves no stream table in the
// component's intersection; two base inputs never meet.
class DiamondFinder {
  public:
	explicit DiamondFinder(std::size_t width) : intermediates_(width), all_(width) {
	}

	// Whether D has a diamond. If so, Intermediates() holds D's intermediates: stream-table bits
	// only, valid in the first branches.RowWords(d) words.
	bool Find(const Branches &branches, const Csr &st_sources, std::size_t d) {
		const std::size_t *sts = st_sources.RowBegin(d);
		const std::size_t *bases = branches.BaseSources().RowBegin(d);
		std::size_t st_count = st_sources.RowSize(d);
		std::size_t input_count = st_count + branches.BaseSources().RowSize(d);
		if (st_count == 0 || input_count < 2) {
			return false;
		}
		// Union-find over D's inputs: 0..st_count-1 are stream tables, the rest base sources.
		input_parent_.resize(input_count);
		std::iota(input_parent_.begin(), input_parent_.end(), 0);
		for (std::size_t i = 0; i < st_count; i++) {
			const Word *bi = branches.Row(sts[i]);
			std::size_t prefix = std::min(branches.RootWords(), branches.RowWords(sts[i]));
			for (std::size_t j = i + 1; j < input_count; j++) {
				std::size_t ri = FindRoot(input_parent_, i);
				std::size_t rj = FindRoot(input_parent_, j);
				if (ri == rj) {
					continue;
				}
				bool meet = j < st_count ? Intersects(bi, branches.Row(sts[j]),
				                                      std::min(prefix, branches.RowWords(sts[j])))
				                         : TestBit(bi, bases[j - st_count]);
				if (meet) {
					input_parent_[std::max(ri, rj)] = std::min(ri, rj);
				}
			}
		}
		by_component_.clear();
		for (std::size_t i = 0; i < input_count; i++) {
			by_component_.emplace_back(FindRoot(input_parent_, i), i);
		}
		std::sort(by_component_.begin(), by_component_.end());

		std::fill_n(intermediates_.begin(), branches.RowWords(d), 0);
		bool diamond = false;
		for (std::size_t start = 0, end; start < input_count; start = end) {
			rows_.clear();
			words_.clear();
			bool has_base = false;
			for (end = start;
			     end < input_count && by_component_[end].first == by_component_[start].first;
			     end++) {
				std::size_t input = by_component_[end].second;
				if (input < st_count) {
					rows_.push_back(branches.Row(sts[input]));
					words_.push_back(branches.RowWords(sts[input]));
				} else {
					has_base = true;
				}
			}
			if (end - start >= 2) {
				diamond = true;
				AddUnionMinusIntersection(has_base);
			}
		}
		// Keep stream-table bits only.
		std::size_t first_st_word = branches.FirstStBit() / kWordBits;
		std::fill_n(intermediates_.begin(), first_st_word, 0);
		intermediates_[first_st_word] &= ~((Word{1} << (branches.FirstStBit() % kWordBits)) - 1);
		return diamond;
	}

	const Word *Intermediates() const {
		return intermediates_.data();
	}

  private:
	// Adds (union - intersection) of rows_ to the intermediates. Past a row's prefix its words
	// are zero, and so is the intersection; a base input makes it empty. Branches of different
	// components are disjoint, so the union can go straight into the intermediates and the
	// intersection be cleared from them afterwards. Whole-row loops (vectorized, on rows that
	// sit in L1) beat one word-by-word pass over all rows; two rows, the usual case, are an XOR.
	void AddUnionMinusIntersection(bool has_base) {
		std::size_t all_words = has_base ? 0 : *std::min_element(words_.begin(), words_.end());
		if (rows_.size() == 2 && !has_base) {
			const Word *a = rows_[0];
			const Word *b = rows_[1];
			for (std::size_t w = 0; w < all_words; w++) {
				intermediates_[w] |= a[w] ^ b[w];
			}
			const Word *longer = words_[0] > words_[1] ? a : b;
			for (std::size_t w = all_words, end = std::max(words_[0], words_[1]); w < end; w++) {
				intermediates_[w] |= longer[w];
			}
			return;
		}
		for (std::size_t r = 0; r < rows_.size(); r++) {
			const Word *row = rows_[r];
			for (std::size_t w = 0; w < words_[r]; w++) {
				intermediates_[w] |= row[w];
			}
		}
		if (all_words == 0) {
			return;
		}
		std::copy_n(rows_[0], all_words, all_.begin());
		for (std::size_t r = 1; r < rows_.size(); r++) {
			const Word *row = rows_[r];
			for (std::size_t w = 0; w < all_words; w++) {
				all_[w] &= row[w];
			}
		}
		for (std::size_t w = 0; w < all_words; w++) {
			intermediates_[w] &= ~all_[w];
		}
	}

	std::vector<Word> intermediates_;
	std::vector<Word> all_; // intersection of one component's branches
	std::vector<std::size_t> input_parent_;
	std::vector<std::pair<std::size_t, std::size_t>> by_component_; // (component root, input)
	std::vector<const Word *> rows_;                                // branches of one component
	std::vector<std::size_t> words_;                                // their prefix lengths
};

// Consistency groups: union-find over stream tables, fed one diamond at a time in topological
// order of the convergence nodes.
//
// Visiting every intermediate of every diamond would be quadratic (in a deep graph most of the
// graph is an intermediate of each late diamond), so each group root also owns a member bitset:
// only intermediates outside D's group are visited, and each visit either puts a stream table in
// its first group or merges two groups, which happens at most n times in total. Every bit
// involved while adding D's diamond lies below D's own bit (groups so far only hold D's
// predecessors), so D's row prefix bounds every loop.
class GroupMerger {
  public:
	explicit GroupMerger(const Branches &branches, std::size_t n)
	    : first_st_bit_(branches.FirstStBit()), width_(branches.Width()), parent_(n),
	      is_convergence_(n, 0), grouped_(width_, 0), slot_of_root_(n, kNone) {
		std::iota(parent_.begin(), parent_.end(), 0);
	}

	// Puts d and its intermediates (stream-table bits of the first `words` words) in one group.
	void AddDiamond(std::size_t d, const Word *intermediates, std::size_t words) {
		is_convergence_[d] = 1;
		if (!TestBit(grouped_.data(), first_st_bit_ + d)) {
			SetBit(grouped_.data(), first_st_bit_ + d);
			slot_of_root_[d] = NewSlot();
			SetBit(SlotRow(slot_of_root_[d]), first_st_bit_ + d);
		}
		std::size_t root = FindRoot(parent_, d);
		Word *members = SlotRow(slot_of_root_[root]);
		for (std::size_t w = first_st_bit_ / kWordBits; w < words; w++) {
			Word fresh = intermediates[w] & ~grouped_[w];
			grouped_[w] |= fresh;
			members[w] |= fresh;
			for (; fresh != 0; fresh &= fresh - 1) {
				parent_[w * kWordBits + LowestBit(fresh) - first_st_bit_] = root;
			}
			for (Word other = intermediates[w] & ~members[w]; other != 0;
			     other = intermediates[w] & ~members[w]) {
				std::size_t other_root =
				    FindRoot(parent_, w * kWordBits + LowestBit(other) - first_st_bit_);
				const Word *theirs = SlotRow(slot_of_root_[other_root]);
				for (std::size_t v = first_st_bit_ / kWordBits; v < words; v++) {
					members[v] |= theirs[v];
				}
				free_slots_.push_back(slot_of_root_[other_root]);
				slot_of_root_[other_root] = kNone;
				parent_[other_root] = root;
			}
		}
	}

	bool InGroup(std::size_t t) const {
		return TestBit(grouped_.data(), first_st_bit_ + t);
	}
	bool IsConvergence(std::size_t t) const {
		return is_convergence_[t] != 0;
	}
	// Same value for all members of a group.
	std::size_t GroupRoot(std::size_t t) {
		return FindRoot(parent_, t);
	}

  private:
	// Invalidates pointers returned by SlotRow().
	std::size_t NewSlot() {
		if (!free_slots_.empty()) {
			std::size_t slot = free_slots_.back();
			free_slots_.pop_back();
			std::fill_n(SlotRow(slot), width_, 0);
			return slot;
		}
		slot_words_.resize(slot_words_.size() + width_, 0);
		return slot_words_.size() / width_ - 1;
	}
	Word *SlotRow(std::size_t slot) {
		return slot_words_.data() + slot * width_;
	}

	std::size_t first_st_bit_;
	std::size_t width_;
	std::vector<std::size_t> parent_;
	std::vector<char> is_convergence_;
	std::vector<Word> grouped_;             // stream tables in some group
	std::vector<std::size_t> slot_of_root_; // member bitset of each group root
	std::vector<Word> slot_words_;
	std::vector<std::size_t> free_slots_; // slots of groups merged into another
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
	dag.by_id_.resize(n);
	for (std::size_t i = 0; i < n; i++) {
		dag.by_id_[i] = {p.nodes[i].pgt_id, position[i]}; // p.nodes is sorted by pgt_id
	}
	Csr st_sources;
	st_sources.begin.reserve(n + 1);
	st_sources.list.reserve(p.st_sources.list.size());
	dag.nodes_.reserve(n);
	dag.topo_.reserve(n);
	for (std::size_t t = 0; t < n; t++) {
		std::size_t i = order[t];
		for (const std::size_t *s = p.st_sources.RowBegin(i); s != p.st_sources.RowEnd(i); s++) {
			st_sources.list.push_back(position[*s]);
		}
		st_sources.EndRow();
		dag.nodes_.push_back(std::move(p.nodes[i]));
		dag.topo_.push_back(dag.nodes_.back().pgt_id);
	}
	Csr readers = Transpose(st_sources, n);
	dag.reader_begin_ = std::move(readers.begin);
	dag.reader_list_ = std::move(readers.list);

	Branches branches(dag.nodes_, st_sources);
	DiamondFinder diamonds(branches.Width());
	GroupMerger merger(branches, n);
	for (std::size_t d = 0; d < n; d++) {
		if (diamonds.Find(branches, st_sources, d)) {
			merger.AddDiamond(d, diamonds.Intermediates(), branches.RowWords(d));
		}
	}

	// Groups in order of their first member's topological position; members and convergence
	// points come out in topological order because t runs in that order. Strictest policy wins
	// over convergence points only; a singleton keeps its own policy.
	std::vector<std::size_t> group_of_root(n, kNone);
	dag.group_of_.resize(n);
	for (std::size_t t = 0; t < n; t++) {
		const StNode &node = dag.nodes_[t];
		bool in_group = merger.InGroup(t);
		std::size_t root = in_group ? merger.GroupRoot(t) : t;
		if (!in_group || group_of_root[root] == kNone) {
			group_of_root[root] = dag.groups_.size();
			dag.groups_.push_back(
			    Group{{}, {}, in_group ? SchedulePolicy::kFastest : node.policy, in_group});
		}
		std::size_t g = group_of_root[root];
		Group &group = dag.groups_[g];
		dag.group_of_[t] = g;
		group.members.push_back(node.pgt_id);
		if (merger.IsConvergence(t)) {
			group.convergence.push_back(node.pgt_id);
			group.policy = Stricter(group.policy, node.policy);
		}
		group.atomic = group.atomic && node.consistency == DiamondConsistency::kAtomic;
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
	auto it = std::lower_bound(by_id_.begin(), by_id_.end(), pgt_id,
	                           [](const std::pair<std::int64_t, std::size_t> &entry,
	                              std::int64_t id) { return entry.first < id; });
	if (it == by_id_.end() || it->first != pgt_id) {
		throw Error(kSqlstateInternalError, "unknown stream table id " + std::to_string(pgt_id));
	}
	return it->second;
}

const StNode &Dag::Node(std::int64_t pgt_id) const {
	return nodes_[IndexOf(pgt_id)];
}

std::size_t Dag::GroupOf(std::int64_t pgt_id) const {
	return group_of_[IndexOf(pgt_id)];
}

std::vector<std::int64_t> Dag::Downstream(std::int64_t pgt_id) const {
	std::size_t start = IndexOf(pgt_id);
	std::vector<char> seen(nodes_.size(), 0);
	std::vector<std::size_t> stack{start};
	std::vector<std::size_t> found;
	while (!stack.empty()) {
		std::size_t t = stack.back();
		stack.pop_back();
		for (std::size_t r = reader_begin_[t]; r < reader_begin_[t + 1]; r++) {
			std::size_t reader = reader_list_[r];
			if (!seen[reader]) {
				seen[reader] = 1;
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
