// Unit and property tests of the dependency graph: topological order, cycles, diamonds and
// consistency groups (SPEC §6), checked against hand-derived topologies and a brute-force oracle.
#include "core/dag.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pgtrickle::core {
namespace {

SourceEdge Base(std::int64_t oid) {
	return SourceEdge{false, oid};
}

SourceEdge St(std::int64_t pgt_id) {
	return SourceEdge{true, pgt_id};
}

StNode Node(std::int64_t pgt_id, std::string name, std::vector<SourceEdge> sources,
            SchedulePolicy policy = SchedulePolicy::kFastest,
            DiamondConsistency consistency = DiamondConsistency::kAtomic) {
	return StNode{pgt_id, "s." + name, std::move(sources), policy, consistency};
}

using Ids = std::vector<std::int64_t>;

// (members, convergence) of every non-singleton group, in Groups() order.
std::vector<std::pair<Ids, Ids>> MultiGroups(const Dag &dag) {
	std::vector<std::pair<Ids, Ids>> out;
	for (const Group &group : dag.Groups()) {
		if (!group.IsSingleton()) {
			out.emplace_back(group.members, group.convergence);
		}
	}
	return out;
}

std::vector<std::pair<Ids, Ids>> Expect(std::vector<std::pair<Ids, Ids>> groups) {
	return groups;
}

// Runs f and returns the core::Error it throws; fails the test if it throws nothing.
template <typename F> Error CatchError(F f) {
	try {
		f();
	} catch (const Error &e) {
		return e;
	}
	ADD_FAILURE() << "expected core::Error";
	return Error("00000", "");
}

// Base sources use OIDs in the same numeric range as pgt_ids on purpose: the id spaces are
// separate and the DAG must not confuse them.
constexpr std::int64_t kA = 100; // base table
constexpr std::int64_t kX = 101; // base table
constexpr std::int64_t kY = 102; // base table

TEST(DagTest, EmptyGraph) {
	Dag dag = Dag::Build({});
	EXPECT_TRUE(dag.TopologicalOrder().empty());
	EXPECT_TRUE(dag.Groups().empty());
}

TEST(DagTest, SimpleDiamond) {
	// A(base) -> B, C -> D
	Dag dag = Dag::Build(
	    {Node(3, "d", {St(1), St(2)}), Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)})});
	EXPECT_EQ(dag.TopologicalOrder(), (Ids{1, 2, 3}));
	ASSERT_EQ(dag.Groups().size(), 1u);
	const Group &group = dag.Groups()[0];
	EXPECT_EQ(group.members, (Ids{1, 2, 3}));
	EXPECT_EQ(group.convergence, (Ids{3}));
	EXPECT_EQ(group.policy, SchedulePolicy::kFastest);
	EXPECT_TRUE(group.atomic);
	EXPECT_FALSE(group.IsSingleton());
	EXPECT_EQ(dag.GroupOf(1), 0u);
	EXPECT_EQ(dag.GroupOf(3), 0u);
}

TEST(DagTest, DeepBranches) {
	// A -> B -> E -> D and A -> C -> D
	Dag dag = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)}), Node(3, "e", {St(1)}),
	                      Node(4, "d", {St(3), St(2)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4}, {4}}}));
	EXPECT_EQ(dag.Groups().size(), 1u);
}

TEST(DagTest, ThreeBranches) {
	// A -> B, C, E -> D
	Dag dag = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)}),
	                      Node(3, "e", {Base(kA)}), Node(4, "d", {St(1), St(2), St(3)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4}, {4}}}));
}

TEST(DagTest, SharedStreamTableRootIsNotAMember) {
	// X(base) -> S(ST) -> B, C -> D: S is a shared source and stays a singleton.
	Dag dag = Dag::Build({Node(1, "s", {Base(kX)}), Node(2, "b", {St(1)}), Node(3, "c", {St(1)}),
	                      Node(4, "d", {St(2), St(3)})});
	ASSERT_EQ(dag.Groups().size(), 2u);
	EXPECT_EQ(dag.Groups()[0].members, (Ids{1}));
	EXPECT_TRUE(dag.Groups()[0].convergence.empty());
	EXPECT_EQ(dag.Groups()[1].members, (Ids{2, 3, 4}));
	EXPECT_EQ(dag.Groups()[1].convergence, (Ids{4}));
}

TEST(DagTest, BaseTableReadDirectlyAndThroughStreamTable) {
	// D reads base A and ST B, B reads A.
	Dag dag = Dag::Build({Node(2, "d", {Base(kA), St(1)}), Node(1, "b", {Base(kA)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2}, {2}}}));
}

TEST(DagTest, TwoFanInsOnSamePairFormOneGroup) {
	// B, C -> D and B, C -> E: one group with both convergence points (upstream dropped one).
	Dag dag = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)}),
	                      Node(3, "d", {St(1), St(2)}), Node(4, "e", {St(1), St(2)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4}, {3, 4}}}));
	EXPECT_EQ(dag.Groups().size(), 1u);
}

TEST(DagTest, NestedDiamondsStaySeparateWhenConvergenceIsSharedSource) {
	// A -> B, C -> D; D -> E, F -> G. D is a shared source of the second diamond.
	Dag dag = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)}),
	                      Node(3, "d", {St(1), St(2)}), Node(4, "e", {St(3)}),
	                      Node(5, "f", {St(3)}), Node(6, "g", {St(4), St(5)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3}, {3}}, {{4, 5, 6}, {6}}}));
}

TEST(DagTest, OverlappingDiamondsMergeAndKeepEveryConvergencePoint) {
	// Blog example: A, B read s1; B, D read s2; C <- A, B; E <- C, D.
	// C's diamond {A, B, C}; E's diamond has branches {C, A, B, s1, s2} and {D, s2}, sharing s2:
	// intermediates A, B, C, D. The two overlap and merge with convergence {C, E}.
	constexpr std::int64_t kS1 = 201;
	constexpr std::int64_t kS2 = 202;
	Dag dag = Dag::Build({Node(1, "a", {Base(kS1)}), Node(2, "b", {Base(kS1), Base(kS2)}),
	                      Node(3, "c", {St(1), St(2)}), Node(4, "d", {Base(kS2)}),
	                      Node(5, "e", {St(3), St(4)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4, 5}, {3, 5}}}));
}

TEST(DagTest, ExtraAncestorOfABranchIsPulledIn) {
	// A -> B, C -> D; C also reads Y <- Z(base). Y is in C's branch but not shared.
	Dag dag = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "y", {Base(kY)}),
	                      Node(3, "c", {Base(kA), St(2)}), Node(4, "d", {St(1), St(3)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4}, {4}}}));
}

TEST(DagTest, OverlapThroughAMiddleInput) {
	// D reads U1 <- X, U2 <- X, Y and U3 <- Y: U1 and U3 share nothing, but each shares a root
	// with U2, so all three are intermediates.
	Dag dag = Dag::Build({Node(1, "u1", {Base(kX)}), Node(2, "u2", {Base(kX), Base(kY)}),
	                      Node(3, "u3", {Base(kY)}), Node(4, "d", {St(1), St(2), St(3)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3, 4}, {4}}}));
}

TEST(DagTest, StreamTableWithoutSourcesIsARoot) {
	// S reads nothing (SELECT 1); B and C read S; D reads B and C; E reads S and B.
	Dag dag = Dag::Build({Node(1, "s", {}), Node(2, "b", {St(1)}), Node(3, "c", {St(1)}),
	                      Node(4, "d", {St(2), St(3)}), Node(5, "e", {St(1), St(2)})});
	ASSERT_EQ(dag.Groups().size(), 2u);
	EXPECT_EQ(dag.Groups()[0].members, (Ids{1}));
	EXPECT_EQ(dag.Groups()[1].members, (Ids{2, 3, 4, 5}));
	EXPECT_EQ(dag.Groups()[1].convergence, (Ids{4, 5}));
}

TEST(DagTest, TwoIndependentDiamonds) {
	Dag dag = Dag::Build({Node(1, "b1", {Base(kA)}), Node(2, "c1", {Base(kA)}),
	                      Node(3, "d1", {St(1), St(2)}), Node(4, "b2", {Base(kX)}),
	                      Node(5, "c2", {Base(kX)}), Node(6, "d2", {St(4), St(5)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3}, {3}}, {{4, 5, 6}, {6}}}));
}

TEST(DagTest, LinearChainHasOnlySingletons) {
	Dag dag =
	    Dag::Build({Node(30, "c", {St(20)}), Node(20, "b", {St(10)}), Node(10, "a", {Base(kA)})});
	EXPECT_EQ(dag.TopologicalOrder(), (Ids{10, 20, 30}));
	ASSERT_EQ(dag.Groups().size(), 3u);
	for (std::size_t i = 0; i < 3; i++) {
		EXPECT_TRUE(dag.Groups()[i].IsSingleton());
		EXPECT_EQ(dag.Groups()[i].members[0], dag.TopologicalOrder()[i]);
		EXPECT_FALSE(dag.Groups()[i].atomic);
	}
	EXPECT_EQ(dag.Downstream(10), (Ids{20, 30}));
	EXPECT_EQ(dag.Downstream(30), Ids{});
}

TEST(DagTest, TopologicalOrderPrefersSmallestReadyId) {
	// 5 is ready first but 1 only after 5; 3 is ready from the start.
	Dag dag =
	    Dag::Build({Node(1, "a", {St(5)}), Node(5, "e", {Base(kA)}), Node(3, "c", {Base(kA)})});
	EXPECT_EQ(dag.TopologicalOrder(), (Ids{3, 5, 1}));
}

TEST(DagTest, FanInFromUnrelatedRootsIsNotADiamond) {
	// B <- X, C <- Y, B, C -> D
	Dag dag = Dag::Build(
	    {Node(1, "b", {Base(kX)}), Node(2, "c", {Base(kY)}), Node(3, "d", {St(1), St(2)})});
	EXPECT_TRUE(MultiGroups(dag).empty());
	EXPECT_EQ(dag.Groups().size(), 3u);
}

TEST(DagTest, FanInOfBaseTablesOnlyIsNotADiamond) {
	Dag dag = Dag::Build({Node(1, "d", {Base(kX), Base(kY), Base(kA)})});
	EXPECT_TRUE(MultiGroups(dag).empty());
}

TEST(DagTest, BaseOidsAndPgtIdsAreSeparateIdSpaces) {
	// ST 2 reads base OID 1 and ST 3 reads ST 1 and ST 2; base 1 is not ST 1, so the two
	// branches {1 (ST), base 7} and {2, base 1} do not meet.
	Dag dag = Dag::Build(
	    {Node(1, "a", {Base(7)}), Node(2, "b", {Base(1)}), Node(3, "c", {St(1), St(2)})});
	EXPECT_TRUE(MultiGroups(dag).empty());
	// And the same base OID read twice through different STs is a diamond.
	Dag diamond = Dag::Build(
	    {Node(1, "a", {Base(1)}), Node(2, "b", {Base(1)}), Node(3, "c", {St(1), St(2)})});
	EXPECT_EQ(MultiGroups(diamond), Expect({{{1, 2, 3}, {3}}}));
}

TEST(DagTest, DuplicateEdgesAreIgnored) {
	Dag dag = Dag::Build({Node(1, "b", {Base(kA), Base(kA)}), Node(2, "c", {Base(kA)}),
	                      Node(3, "d", {St(2), St(1), St(2), St(1), St(2)})});
	EXPECT_EQ(MultiGroups(dag), Expect({{{1, 2, 3}, {3}}}));
	EXPECT_EQ(dag.Node(3).sources.size(), 2u);
	EXPECT_EQ(dag.Node(1).sources.size(), 1u);
	EXPECT_EQ(dag.Downstream(1), (Ids{3}));

	// One distinct input read twice is not a fan-in.
	Dag twice = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "d", {St(1), St(1)})});
	EXPECT_TRUE(MultiGroups(twice).empty());
}

TEST(DagTest, CycleReportsPathFromSmallestId) {
	// a reads c, b reads a, c reads b: a -> b -> c -> a. d hangs off the cycle and is not in it.
	std::vector<StNode> nodes = {Node(3, "c", {St(2)}), Node(1, "a", {St(3), Base(kA)}),
	                             Node(2, "b", {St(1)}), Node(4, "d", {St(3)})};
	for (int round = 0; round < 2; round++) {
		Error e = CatchError([&] { Dag::Build(nodes); });
		EXPECT_EQ(e.Sqlstate(), kSqlstateInvalidObjectDefinition);
		EXPECT_STREQ(e.what(), "cycle detected in dependency graph: s.a -> s.b -> s.c -> s.a");
		std::reverse(nodes.begin(), nodes.end());
	}
}

TEST(DagTest, CycleDownstreamOfSmallerNodes) {
	// The smallest remaining node (4) only reads the cycle 6 -> 7 -> 6.
	Error e = CatchError([] {
		Dag::Build({Node(1, "ok", {Base(kA)}), Node(4, "tail", {St(7)}),
		            Node(6, "x", {St(7), St(1)}), Node(7, "y", {St(6)})});
	});
	EXPECT_EQ(e.Sqlstate(), kSqlstateInvalidObjectDefinition);
	EXPECT_STREQ(e.what(), "cycle detected in dependency graph: s.x -> s.y -> s.x");
}

TEST(DagTest, SelfLoopIsACycle) {
	Error e = CatchError([] { Dag::Build({Node(1, "a", {St(1)})}); });
	EXPECT_EQ(e.Sqlstate(), kSqlstateInvalidObjectDefinition);
	EXPECT_STREQ(e.what(), "cycle detected in dependency graph: s.a -> s.a");
}

TEST(DagTest, UnknownStreamTableIdIsAnError) {
	Error e = CatchError([] { Dag::Build({Node(1, "a", {St(99)})}); });
	EXPECT_EQ(e.Sqlstate(), kSqlstateInternalError);
	EXPECT_NE(std::string(e.what()).find("unknown stream table id 99"), std::string::npos)
	    << e.what();

	// Sparse ids are looked up differently from dense ones.
	for (std::int64_t missing : {std::int64_t{-5}, std::int64_t{500000}, std::int64_t{2000000}}) {
		Error sparse = CatchError([&] {
			Dag::Build({Node(1, "a", {Base(kA)}), Node(1000000, "b", {St(1), St(missing)})});
		});
		EXPECT_EQ(sparse.Sqlstate(), kSqlstateInternalError) << missing;
		EXPECT_NE(
		    std::string(sparse.what())
		        .find("unknown stream table id " + std::to_string(missing) + " in sources of s.b"),
		    std::string::npos)
		    << sparse.what();
	}

	Dag dag = Dag::Build({Node(1, "a", {Base(kA)})});
	EXPECT_EQ(CatchError([&] { dag.Node(2); }).Sqlstate(), kSqlstateInternalError);
	EXPECT_EQ(CatchError([&] { dag.Downstream(2); }).Sqlstate(), kSqlstateInternalError);
	EXPECT_EQ(CatchError([&] { dag.GroupOf(2); }).Sqlstate(), kSqlstateInternalError);
}

TEST(DagTest, DuplicatePgtIdIsAnError) {
	Error e = CatchError([] { Dag::Build({Node(1, "a", {Base(kA)}), Node(1, "b", {})}); });
	EXPECT_EQ(e.Sqlstate(), kSqlstateInternalError);
}

TEST(DagTest, DownstreamIsTransitiveAndTopological) {
	Dag dag = Dag::Build({Node(1, "s", {Base(kX)}), Node(2, "b", {St(1)}), Node(3, "c", {St(1)}),
	                      Node(4, "d", {St(3), St(2)}), Node(5, "other", {Base(kX)})});
	EXPECT_EQ(dag.Downstream(1), (Ids{2, 3, 4}));
	EXPECT_EQ(dag.Downstream(3), (Ids{4}));
	EXPECT_EQ(dag.Downstream(5), Ids{});
}

TEST(DagTest, CheckNoCycle) {
	std::vector<StNode> existing = {Node(1, "a", {Base(kA)}), Node(2, "b", {St(1)}),
	                                Node(3, "c", {St(2)})};
	// New node reading the chain: fine.
	EXPECT_NO_THROW(CheckNoCycle(existing, Node(4, "d", {St(3), St(1)})));
	// Replacing a's query so that it reads c closes a -> b -> c -> a.
	Error e = CatchError([&] { CheckNoCycle(existing, Node(1, "a", {St(3)})); });
	EXPECT_EQ(e.Sqlstate(), kSqlstateInvalidObjectDefinition);
	EXPECT_STREQ(e.what(), "cycle detected in dependency graph: s.a -> s.b -> s.c -> s.a");
	// Replacing b to read a base table only removes edges: fine.
	EXPECT_NO_THROW(CheckNoCycle(existing, Node(2, "b", {Base(kA)})));
	// Reading itself.
	EXPECT_EQ(CatchError([&] { CheckNoCycle(existing, Node(4, "d", {St(4)})); }).Sqlstate(),
	          kSqlstateInvalidObjectDefinition);
	// Unknown stream table.
	EXPECT_EQ(CatchError([&] { CheckNoCycle(existing, Node(4, "d", {St(9)})); }).Sqlstate(),
	          kSqlstateInternalError);
}

TEST(DagTest, GroupDue) {
	using P = SchedulePolicy;
	EXPECT_FALSE(GroupDue(P::kFastest, {}));
	EXPECT_FALSE(GroupDue(P::kSlowest, {}));
	EXPECT_TRUE(GroupDue(P::kFastest, {false, true, false}));
	EXPECT_FALSE(GroupDue(P::kFastest, {false, false}));
	EXPECT_FALSE(GroupDue(P::kSlowest, {true, false, true}));
	EXPECT_TRUE(GroupDue(P::kSlowest, {true, true, true}));
	EXPECT_TRUE(GroupDue(P::kSlowest, {true}));
}

TEST(DagTest, PolicyFoldOnlyConsultsConvergencePoints) {
	using P = SchedulePolicy;
	auto diamond = [](P b, P d) {
		return Dag::Build({Node(1, "b", {Base(kA)}, b), Node(2, "c", {Base(kA)}),
		                   Node(3, "d", {St(1), St(2)}, d), Node(4, "lone", {Base(kX)}, b)});
	};
	Dag slow_branch = diamond(P::kSlowest, P::kFastest);
	EXPECT_EQ(slow_branch.Groups()[0].policy, P::kFastest);
	// A singleton reports its own policy.
	EXPECT_EQ(slow_branch.Groups()[slow_branch.GroupOf(4)].policy, P::kSlowest);
	Dag slow_convergence = diamond(P::kFastest, P::kSlowest);
	EXPECT_EQ(slow_convergence.Groups()[0].policy, P::kSlowest);
	EXPECT_EQ(slow_convergence.Groups()[slow_convergence.GroupOf(4)].policy, P::kFastest);

	// Two convergence points: either one being slowest makes the group slowest.
	Dag two = Dag::Build({Node(1, "b", {Base(kA)}), Node(2, "c", {Base(kA)}),
	                      Node(3, "d", {St(1), St(2)}), Node(4, "e", {St(1), St(2)}, P::kSlowest)});
	EXPECT_EQ(two.Groups()[0].policy, P::kSlowest);
}

TEST(DagTest, AtomicRequiresEveryMember) {
	using C = DiamondConsistency;
	auto diamond = [](C b) {
		return Dag::Build({Node(1, "b", {Base(kA)}, SchedulePolicy::kFastest, b),
		                   Node(2, "c", {Base(kA)}), Node(3, "d", {St(1), St(2)})});
	};
	EXPECT_TRUE(diamond(C::kAtomic).Groups()[0].atomic);
	EXPECT_FALSE(diamond(C::kNone).Groups()[0].atomic);
}

// ---------------------------------------------------------------------------------------------
// Property tests on random DAGs, against a brute-force oracle built from the definitions.

struct RandomDag {
	std::vector<StNode> nodes; // in creation order: sources always created earlier
};

struct Shape {
	int n;             // stream tables
	int bases;         // base tables, OIDs 1..bases
	int cluster;       // stream tables mostly read within blocks of this many
	int max_inputs;    // inputs of a fan-in node: 2..max_inputs
	int fanin_percent; // share of stream tables with fan-in
};

std::string Describe(std::uint32_t seed, const Shape &shape) {
	return "seed=" + std::to_string(seed) + " n=" + std::to_string(shape.n) +
	       " bases=" + std::to_string(shape.bases) + " cluster=" + std::to_string(shape.cluster) +
	       " max_inputs=" + std::to_string(shape.max_inputs) +
	       " fanin_percent=" + std::to_string(shape.fanin_percent);
}

// Creates stream tables with random, non-contiguous pgt_ids (so topological order is not id
// order). Each reads one source, or with probability fanin_percent several, rarely none, among base
// tables (whose OIDs overlap the pgt_id range) and earlier stream tables, preferring recent ones of
// its own cluster so that there are deep chains and several groups per graph, with occasional
// cross-cluster edges so that groups also merge.
RandomDag MakeRandomDag(std::uint32_t seed, const Shape &shape) {
	std::mt19937 rng(seed);
	std::vector<std::int64_t> ids;
	for (int i = 0; i < 3 * shape.n; i++) {
		ids.push_back(i + 1);
	}
	std::shuffle(ids.begin(), ids.end(), rng);
	ids.resize(static_cast<std::size_t>(shape.n));
	if (seed % 2 == 0) {
		// Sparse, partly negative ids: the DAG resolves them without its dense id table.
		for (std::int64_t &id : ids) {
			id = id * 1000003 - 5000000000;
		}
	}
	std::uniform_int_distribution<int> count(2, std::max(2, shape.max_inputs));
	std::uniform_int_distribution<int> base(1, shape.bases);
	std::geometric_distribution<int> back(0.15);
	RandomDag out;
	for (int i = 0; i < shape.n; i++) {
		int block_start = i / shape.cluster * shape.cluster;
		int k = static_cast<int>(rng() % 100) < shape.fanin_percent ? count(rng) : 1;
		if (rng() % 40 == 0) {
			k = 0; // a stream table reading nothing, e.g. SELECT 1
		}
		std::vector<SourceEdge> sources;
		for (int s = 0; s < k; s++) {
			int roll = static_cast<int>(rng() % 100);
			if (i == 0 || roll < 25) {
				sources.push_back(Base(base(rng)));
			} else if (roll < 28 || i == block_start) {
				sources.push_back(St(ids[rng() % static_cast<unsigned>(i)]));
			} else {
				int from = std::max(block_start, i - 1 - back(rng));
				sources.push_back(St(ids[static_cast<std::size_t>(from)]));
			}
		}
		SchedulePolicy policy =
		    rng() % 4 == 0 ? SchedulePolicy::kSlowest : SchedulePolicy::kFastest;
		DiamondConsistency consistency =
		    rng() % 8 == 0 ? DiamondConsistency::kNone : DiamondConsistency::kAtomic;
		out.nodes.push_back(
		    Node(ids[i], "n" + std::to_string(ids[i]), std::move(sources), policy, consistency));
	}
	return out;
}

using Key = std::pair<bool, std::int64_t>; // (is_stream_table, id)

struct OracleDiamond {
	std::int64_t convergence;
	std::set<std::int64_t> intermediates;
};

struct Oracle {
	std::map<std::int64_t, std::set<Key>> branch; // branch of each ST: itself plus ancestors
	std::vector<OracleDiamond> diamonds;          // one per overlapping input pair
	std::set<std::pair<std::set<std::int64_t>, std::set<std::int64_t>>> groups; // (members, conv)
	std::map<std::int64_t, SchedulePolicy> policy_of_group_with;
};

// Straight from SPEC §6 with ordered sets, quadratic and obviously right.
Oracle BruteForce(const RandomDag &dag) {
	Oracle o;
	std::map<std::int64_t, const StNode *> by_id;
	for (const StNode &node : dag.nodes) {
		by_id[node.pgt_id] = &node;
		std::set<Key> branch = {{true, node.pgt_id}};
		for (const SourceEdge &edge : node.sources) {
			if (edge.is_stream_table) {
				const std::set<Key> &up = o.branch.at(edge.id);
				branch.insert(up.begin(), up.end());
			} else {
				branch.insert({false, edge.id});
			}
		}
		o.branch[node.pgt_id] = std::move(branch);
	}
	for (const StNode &node : dag.nodes) {
		std::set<Key> inputs;
		for (const SourceEdge &edge : node.sources) {
			inputs.insert({edge.is_stream_table, edge.id});
		}
		std::vector<std::set<Key>> branches;
		for (const Key &input : inputs) {
			branches.push_back(input.first ? o.branch.at(input.second) : std::set<Key>{input});
		}
		for (std::size_t i = 0; i < branches.size(); i++) {
			for (std::size_t j = i + 1; j < branches.size(); j++) {
				std::set<Key> shared;
				std::set_intersection(branches[i].begin(), branches[i].end(), branches[j].begin(),
				                      branches[j].end(), std::inserter(shared, shared.end()));
				if (shared.empty()) {
					continue;
				}
				OracleDiamond d{node.pgt_id, {}};
				for (const std::set<Key> *b : {&branches[i], &branches[j]}) {
					for (const Key &key : *b) {
						if (key.first && shared.count(key) == 0) {
							d.intermediates.insert(key.second);
						}
					}
				}
				o.diamonds.push_back(std::move(d));
			}
		}
	}
	// Merge naively: keep a list of groups, fold each diamond into every group it touches.
	std::vector<std::pair<std::set<std::int64_t>, std::set<std::int64_t>>> groups;
	for (const OracleDiamond &d : o.diamonds) {
		std::set<std::int64_t> members = d.intermediates;
		members.insert(d.convergence);
		std::set<std::int64_t> conv = {d.convergence};
		std::vector<std::pair<std::set<std::int64_t>, std::set<std::int64_t>>> rest;
		for (auto &group : groups) {
			bool touches = std::any_of(group.first.begin(), group.first.end(),
			                           [&](std::int64_t m) { return members.count(m) > 0; });
			if (touches) {
				members.insert(group.first.begin(), group.first.end());
				conv.insert(group.second.begin(), group.second.end());
			} else {
				rest.push_back(std::move(group));
			}
		}
		rest.emplace_back(std::move(members), std::move(conv));
		groups = std::move(rest);
	}
	for (auto &group : groups) {
		SchedulePolicy policy = SchedulePolicy::kFastest;
		for (std::int64_t c : group.second) {
			if (by_id.at(c)->policy == SchedulePolicy::kSlowest) {
				policy = SchedulePolicy::kSlowest;
			}
		}
		for (std::int64_t m : group.first) {
			o.policy_of_group_with[m] = policy;
		}
		o.groups.insert(std::move(group));
	}
	return o;
}

// Kahn's algorithm by repeated scans: smallest id whose ST sources are all placed.
std::vector<std::int64_t> BruteTopo(const RandomDag &dag) {
	std::map<std::int64_t, const StNode *> pending;
	for (const StNode &node : dag.nodes) {
		pending[node.pgt_id] = &node;
	}
	std::set<std::int64_t> placed;
	std::vector<std::int64_t> order;
	while (!pending.empty()) {
		for (auto it = pending.begin(); it != pending.end(); ++it) {
			const std::vector<SourceEdge> &sources = it->second->sources;
			bool ready = std::all_of(sources.begin(), sources.end(), [&](const SourceEdge &e) {
				return !e.is_stream_table || placed.count(e.id) > 0;
			});
			if (ready) {
				order.push_back(it->first);
				placed.insert(it->first);
				pending.erase(it);
				break;
			}
		}
	}
	return order;
}

void CheckAgainstOracle(const RandomDag &input, const Dag &dag) {
	const std::vector<std::int64_t> &topo = dag.TopologicalOrder();
	EXPECT_EQ(topo, BruteTopo(input));
	std::map<std::int64_t, std::size_t> position;
	for (std::size_t i = 0; i < topo.size(); i++) {
		position[topo[i]] = i;
	}
	ASSERT_EQ(position.size(), input.nodes.size());
	for (const StNode &node : input.nodes) {
		for (const SourceEdge &edge : node.sources) {
			if (edge.is_stream_table) {
				EXPECT_LT(position.at(edge.id), position.at(node.pgt_id));
			}
		}
	}

	// Disjoint and covering; members and convergence topologically ordered; groups ordered by
	// their first member.
	std::map<std::int64_t, std::size_t> seen;
	std::size_t previous_first = 0;
	for (std::size_t g = 0; g < dag.Groups().size(); g++) {
		const Group &group = dag.Groups()[g];
		ASSERT_FALSE(group.members.empty());
		if (g > 0) {
			EXPECT_GT(position.at(group.members[0]), previous_first);
		}
		previous_first = position.at(group.members[0]);
		for (std::size_t i = 0; i < group.members.size(); i++) {
			EXPECT_TRUE(seen.emplace(group.members[i], g).second) << group.members[i];
			EXPECT_EQ(dag.GroupOf(group.members[i]), g);
			if (i > 0) {
				EXPECT_LT(position.at(group.members[i - 1]), position.at(group.members[i]));
			}
		}
		for (std::size_t i = 1; i < group.convergence.size(); i++) {
			EXPECT_LT(position.at(group.convergence[i - 1]), position.at(group.convergence[i]));
		}
		EXPECT_EQ(group.IsSingleton(), group.convergence.empty());
		bool all_atomic = std::all_of(group.members.begin(), group.members.end(), [&](auto id) {
			return dag.Node(id).consistency == DiamondConsistency::kAtomic;
		});
		EXPECT_EQ(group.atomic, !group.IsSingleton() && all_atomic);
	}
	EXPECT_EQ(seen.size(), input.nodes.size());

	// Every diamond's intermediates and convergence node share a group, where the convergence
	// node is a convergence point.
	Oracle oracle = BruteForce(input);
	for (const OracleDiamond &d : oracle.diamonds) {
		std::size_t g = dag.GroupOf(d.convergence);
		const Ids &conv = dag.Groups()[g].convergence;
		EXPECT_NE(std::find(conv.begin(), conv.end(), d.convergence), conv.end());
		for (std::int64_t m : d.intermediates) {
			EXPECT_EQ(dag.GroupOf(m), g) << "intermediate " << m << " of " << d.convergence;
		}
	}
	// And nothing more: the non-singleton groups are exactly the oracle's merged groups.
	std::set<std::pair<std::set<std::int64_t>, std::set<std::int64_t>>> actual;
	for (const Group &group : dag.Groups()) {
		if (!group.IsSingleton()) {
			actual.emplace(
			    std::set<std::int64_t>(group.members.begin(), group.members.end()),
			    std::set<std::int64_t>(group.convergence.begin(), group.convergence.end()));
			EXPECT_EQ(group.policy, oracle.policy_of_group_with.at(group.members[0]));
		} else {
			EXPECT_EQ(group.policy, dag.Node(group.members[0]).policy);
		}
	}
	EXPECT_EQ(actual, oracle.groups);

	// Downstream of a few nodes: every ST whose branch contains it, in topological order.
	for (std::size_t i = 0; i < input.nodes.size(); i += 17) {
		std::int64_t id = input.nodes[i].pgt_id;
		Ids expected;
		for (std::int64_t other : topo) {
			if (other != id && oracle.branch.at(other).count({true, id}) > 0) {
				expected.push_back(other);
			}
		}
		EXPECT_EQ(dag.Downstream(id), expected) << "downstream of " << id;
	}
}

TEST(DagPropertyTest, MatchesBruteForceOracle) {
	// {n, bases, cluster, max_inputs, fanin_percent}
	const Shape shapes[] = {{60, 3, 60, 3, 60},
	                        {200, 40, 20, 2, 20},
	                        {300, 10, 30, 3, 15},
	                        {400, 80, 25, 4, 30},
	                        {150, 30, 150, 12, 10}};
	int diamonds_seen = 0;
	int multi_groups_seen = 0;
	int merged_seen = 0; // groups with several convergence points
	for (const Shape &shape : shapes) {
		for (std::uint32_t seed = 1; seed <= 6; seed++) {
			SCOPED_TRACE(Describe(seed, shape));
			RandomDag input = MakeRandomDag(seed, shape);
			Dag dag = Dag::Build(input.nodes);
			CheckAgainstOracle(input, dag);
			diamonds_seen += static_cast<int>(BruteForce(input).diamonds.size());
			for (const auto &group : MultiGroups(dag)) {
				multi_groups_seen++;
				merged_seen += group.second.size() > 1 ? 1 : 0;
			}
		}
	}
	// The generator must actually exercise diamonds and several groups per graph.
	EXPECT_GT(diamonds_seen, 500);
	EXPECT_GT(multi_groups_seen, 100);
	EXPECT_GT(merged_seen, 30);
}

TEST(DagPropertyTest, InputOrderNeverChangesTheResult) {
	for (std::uint32_t seed = 1; seed <= 8; seed++) {
		const Shape shape = {250, 20, 50, 3, 30};
		SCOPED_TRACE(Describe(seed, shape));
		RandomDag input = MakeRandomDag(seed, shape);
		Dag reference = Dag::Build(input.nodes);
		std::mt19937 rng(seed * 7919u);
		for (int round = 0; round < 5; round++) {
			std::vector<StNode> shuffled = input.nodes;
			std::shuffle(shuffled.begin(), shuffled.end(), rng);
			for (StNode &node : shuffled) {
				// Duplicate some edges, then shuffle the edge order.
				std::size_t count = node.sources.size();
				for (std::size_t i = 0; i < count; i++) {
					if (rng() % 3 == 0) {
						node.sources.push_back(node.sources[i]);
					}
				}
				std::shuffle(node.sources.begin(), node.sources.end(), rng);
			}
			Dag dag = Dag::Build(shuffled);
			ASSERT_EQ(dag.TopologicalOrder(), reference.TopologicalOrder());
			ASSERT_EQ(dag.Groups().size(), reference.Groups().size());
			for (std::size_t g = 0; g < dag.Groups().size(); g++) {
				const Group &a = dag.Groups()[g];
				const Group &b = reference.Groups()[g];
				EXPECT_EQ(a.members, b.members) << "group " << g;
				EXPECT_EQ(a.convergence, b.convergence) << "group " << g;
				EXPECT_EQ(a.policy, b.policy) << "group " << g;
				EXPECT_EQ(a.atomic, b.atomic) << "group " << g;
			}
		}
	}
}

TEST(DagPropertyTest, CycleMessageIsIndependentOfInputOrder) {
	for (std::uint32_t seed = 1; seed <= 8; seed++) {
		const Shape shape = {120, 5, 40, 3, 30};
		SCOPED_TRACE(Describe(seed, shape));
		RandomDag input = MakeRandomDag(seed, shape);
		// Close a cycle: the first and the last node created read each other.
		std::mt19937 rng(seed);
		StNode &first = input.nodes.front();
		StNode &last = input.nodes.back();
		last.sources.push_back(St(first.pgt_id));
		first.sources.push_back(St(last.pgt_id));
		std::string reference = CatchError([&] { Dag::Build(input.nodes); }).what();
		EXPECT_EQ(reference.rfind("cycle detected in dependency graph: ", 0), 0u) << reference;
		for (int round = 0; round < 5; round++) {
			std::vector<StNode> shuffled = input.nodes;
			std::shuffle(shuffled.begin(), shuffled.end(), rng);
			for (StNode &node : shuffled) {
				std::shuffle(node.sources.begin(), node.sources.end(), rng);
			}
			EXPECT_EQ(CatchError([&] { Dag::Build(shuffled); }).what(), reference);
		}
	}
}

} // namespace
} // namespace pgtrickle::core
