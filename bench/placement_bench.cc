// Placement engine benchmarks. Fixed shapes and fixed seeds, so figures can be
// compared over time. Run: build/placement_bench (see docs/benchmarks.md).

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <deque>
#include <limits>
#include <map>
#include <string>

#include "berth/placement.h"
#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Nodes;
using testing::Res;

// Steady churn: the cluster is kept `load_percent` full of groups; each
// iteration creates one group and removes the oldest. Names are unique, as
// the engine requires; removed records are purged every few thousand
// iterations, as a long-running caller would.
void Churn(benchmark::State& state, int nodes, const ResourceSet& node, Strategy strategy,
           const std::vector<ResourceSet>& bundles, int prefill) {
  PlacementEngine e = EngineWith(Nodes(nodes, node));
  std::deque<std::string> live;
  int64_t next = 0;
  auto create = [&] {
    std::string name = "g" + std::to_string(next++);
    auto st = e.CreateGroup(GroupSpec{.name = name, .strategy = strategy, .bundles = bundles});
    if (!st.has_value() || *st != GroupState::kCreated) {
      state.SkipWithError("group not placed: the benchmark's cluster is too full");
      return;
    }
    live.push_back(std::move(name));
  };
  for (int i = 0; i < prefill; ++i) create();
  int64_t since_purge = 0;
  for (auto _ : state) {
    create();
    (void)e.RemoveGroup(live.front());
    live.pop_front();
    if (++since_purge == 4096) {
      state.PauseTiming();
      e.PurgeRemoved();
      since_purge = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());  // one create + one remove each
  state.counters["nodes"] = nodes;
  state.counters["bundles"] = static_cast<double>(bundles.size());
}

const ResourceSet kGpuNode = Res({{"CPU", 64}, {"GPU", 8}, {"memory", 1099511627776.0}});

// Single-bundle groups on 1,000 nodes x 8 GPUs, empty and half full.
void BM_CreateRemove1Bundle(benchmark::State& state) {
  int load_percent = static_cast<int>(state.range(1));
  int nodes = static_cast<int>(state.range(0));
  Churn(state, nodes, kGpuNode, Strategy::kPack, {Res({{"CPU", 1}, {"GPU", 1}})},
        nodes * 8 * load_percent / 100);
}
BENCHMARK(BM_CreateRemove1Bundle)->Args({1000, 0})->Args({1000, 50})->Args({1000, 90});

// 8-bundle STRICT_SPREAD groups of whole nodes (a multi-node instance),
// cluster kept half full.
void BM_StrictSpread8(benchmark::State& state) {
  int nodes = static_cast<int>(state.range(0));
  std::vector<ResourceSet> bundles(8, Res({{"CPU", 32}, {"GPU", 8}}));
  Churn(state, nodes, kGpuNode, Strategy::kStrictSpread, bundles, nodes / 8 / 2);
}
BENCHMARK(BM_StrictSpread8)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// 16-bundle PACK groups of one GPU each (a 16-rank training role: two nodes),
// cluster kept half full.
void BM_Pack16(benchmark::State& state) {
  int nodes = static_cast<int>(state.range(0));
  std::vector<ResourceSet> bundles(16, Res({{"CPU", 4}, {"GPU", 1}}));
  Churn(state, nodes, kGpuNode, Strategy::kPack, bundles, nodes / 2 / 2);
}
BENCHMARK(BM_Pack16)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Baseline, in the same run: Ray's single-bundle policy as its C++ core does
// it (ray_pg.md 2.6) without the GCS round trips — every node scanned with the
// LeastResourceScorer over string-keyed double resources, the node with the
// highest score taken. What a per-request scan of the whole cluster costs.
void BM_BaselineRayScan1Bundle(benchmark::State& state) {
  int nodes = static_cast<int>(state.range(0));
  int load_percent = static_cast<int>(state.range(1));
  std::vector<std::map<std::string, double>> avail(
      static_cast<size_t>(nodes), {{"CPU", 64}, {"GPU", 8}, {"memory", 1099511627776.0}});
  const std::map<std::string, double> ask = {{"CPU", 1}, {"GPU", 1}};
  auto place = [&]() -> int {
    int best = -1;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int n = 0; n < nodes; ++n) {
      double score = 0;
      bool fits = true;
      for (const auto& [r, v] : ask) {
        double a = avail[n][r];
        if (a < v) {
          fits = false;
          break;
        }
        score += a > 0 ? (a - v) / a : 0;
      }
      if (fits && score > best_score) {
        best = n;
        best_score = score;
      }
    }
    if (best >= 0) {
      for (const auto& [r, v] : ask) avail[best][r] -= v;
    }
    return best;
  };
  std::deque<int> live;
  for (int i = 0; i < nodes * 8 * load_percent / 100; ++i) live.push_back(place());
  for (auto _ : state) {
    live.push_back(place());
    for (const auto& [r, v] : ask) avail[live.front()][r] += v;
    live.pop_front();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["nodes"] = nodes;
}
BENCHMARK(BM_BaselineRayScan1Bundle)->Args({1000, 0})->Args({1000, 50})->Args({1000, 90});

// Memory: heap bytes per node and per placed group (one bundle, one GPU).
void BM_Memory(benchmark::State& state) {
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    PlacementEngine e = EngineWith(Nodes(10000, kGpuNode));
    size_t with_nodes = mallinfo2().uordblks;
    for (int i = 0; i < 40000; ++i) {
      (void)e.CreateGroup(
          Group("group-" + std::to_string(i), Strategy::kPack, {Res({{"CPU", 1}, {"GPU", 1}})}));
    }
    size_t with_groups = mallinfo2().uordblks;
    state.counters["bytes_per_node"] = static_cast<double>(with_nodes - before) / 10000;
    state.counters["bytes_per_group"] = static_cast<double>(with_groups - with_nodes) / 40000;
  }
}
BENCHMARK(BM_Memory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace berth

BENCHMARK_MAIN();
