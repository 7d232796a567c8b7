// Benchmark of Dag::Build (topological sort, diamond detection, consistency groups) and
// CheckNoCycle on layered random DAGs with fan-in. Figures are recorded in docs/benchmarks.md.
#include "core/dag.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace pgtrickle::core {
namespace {

constexpr int kLayerWidth = 100;

// Layered random DAG: n stream tables in layers of kLayerWidth, n/10 base tables as roots. Each
// stream table reads one source, or with probability fanin_percent 2..max_inputs sources; a
// source is a base table with probability 1/10, otherwise a stream table from one of the three
// previous layers. Ids are shuffled so that topological order is not id order.
std::vector<StNode> MakeLayeredDag(int n, int fanin_percent, int max_inputs, std::uint32_t seed) {
	std::mt19937 rng(seed);
	int bases = std::max(1, n / 10);
	std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
	for (int i = 0; i < n; i++) {
		ids[static_cast<std::size_t>(i)] = i + 1;
	}
	std::shuffle(ids.begin(), ids.end(), rng);
	std::uniform_int_distribution<int> percent(0, 99);
	std::uniform_int_distribution<int> fanin(2, max_inputs);
	std::uniform_int_distribution<int> base_pick(0, bases - 1);
	std::uniform_int_distribution<int> in_layer(0, kLayerWidth - 1);
	std::uniform_int_distribution<int> layers_back(1, 3);
	std::vector<StNode> nodes;
	nodes.reserve(static_cast<std::size_t>(n));
	for (int i = 0; i < n; i++) {
		int layer = i / kLayerWidth;
		int k = percent(rng) < fanin_percent ? fanin(rng) : 1;
		StNode node;
		node.pgt_id = ids[static_cast<std::size_t>(i)];
		node.display_name = "bench.st" + std::to_string(node.pgt_id);
		for (int s = 0; s < k; s++) {
			if (layer == 0 || percent(rng) < 10) {
				node.sources.push_back(SourceEdge{false, 100000 + base_pick(rng)});
			} else {
				int from_layer = std::max(0, layer - layers_back(rng));
				int index = std::min(from_layer * kLayerWidth + in_layer(rng), i - 1);
				node.sources.push_back(SourceEdge{true, ids[static_cast<std::size_t>(index)]});
			}
		}
		nodes.push_back(std::move(node));
	}
	return nodes;
}

void ReportShape(benchmark::State &state, const std::vector<StNode> &nodes, const Dag &dag) {
	std::size_t edges = 0;
	for (const StNode &node : nodes) {
		edges += node.sources.size();
	}
	std::size_t multi = 0;
	std::size_t grouped = 0;
	std::size_t largest = 0;
	for (const Group &group : dag.Groups()) {
		if (!group.IsSingleton()) {
			multi++;
			grouped += group.members.size();
			largest = std::max(largest, group.members.size());
		}
	}
	state.counters["edges"] = static_cast<double>(edges);
	state.counters["groups"] = static_cast<double>(multi);
	state.counters["grouped_sts"] = static_cast<double>(grouped);
	state.counters["largest_group"] = static_cast<double>(largest);
}

// Args: number of stream tables, percentage of them with fan-in, most inputs of a fan-in node.
void BM_DagBuild(benchmark::State &state) {
	std::vector<StNode> nodes =
	    MakeLayeredDag(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
	                   static_cast<int>(state.range(2)), 42);
	for (auto _ : state) {
		state.PauseTiming();
		std::vector<StNode> copy = nodes; // Build takes its input by value
		state.ResumeTiming();
		Dag dag = Dag::Build(std::move(copy));
		benchmark::DoNotOptimize(dag.Groups().data());
	}
	ReportShape(state, nodes, Dag::Build(nodes));
}
BENCHMARK(BM_DagBuild)
    ->ArgNames({"sts", "fanin_pct", "max_inputs"})
    ->Args({1000, 5, 4})
    ->Args({1000, 30, 4})
    ->Args({1000, 100, 4})
    ->Args({10000, 5, 4})
    ->Args({10000, 30, 4})
    ->Args({10000, 100, 4})
    ->Args({10000, 2, 200}) // a few very wide joins
    ->Unit(benchmark::kMillisecond);

// CheckNoCycle as run by create/alter: the candidate replaces one mid-graph stream table.
void BM_CheckNoCycle(benchmark::State &state) {
	std::vector<StNode> nodes =
	    MakeLayeredDag(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
	                   static_cast<int>(state.range(2)), 42);
	StNode candidate = nodes[nodes.size() / 2];
	for (auto _ : state) {
		CheckNoCycle(nodes, candidate);
	}
}
BENCHMARK(BM_CheckNoCycle)
    ->ArgNames({"sts", "fanin_pct", "max_inputs"})
    ->Args({1000, 30, 4})
    ->Args({10000, 30, 4})
    ->Unit(benchmark::kMillisecond);

} // namespace
} // namespace pgtrickle::core

BENCHMARK_MAIN();
