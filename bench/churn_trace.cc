// Random churn traces (see the header).

#include "bench/churn_trace.h"

#include <algorithm>
#include <initializer_list>
#include <random>

namespace berth::bench {
namespace {

using Rng = std::mt19937_64;

int64_t Pick(Rng& rng, std::initializer_list<int64_t> from) {
  std::uniform_int_distribution<size_t> d(0, from.size() - 1);
  return *(from.begin() + d(rng));
}

int Between(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

ResourceSet Res(int64_t cpu, int64_t gpu, int64_t memory) {
  ResourceSet r;
  r.Set(kCpu, Quantity::Whole(cpu));
  if (gpu > 0) r.Set(kGpu, Quantity::Whole(gpu));
  r.Set(kMemory, Quantity::Whole(memory));
  return r;
}

ResourceSet GpuBundle(Rng& rng, int64_t gpus) {
  return Res(gpus * Pick(rng, {4, 8, 12}), gpus, gpus * Pick(rng, {32, 64, 128}));
}

// CPU-heavy: reward models on CPUs, verifiers, data loaders.
ResourceSet CpuBundle(Rng& rng) {
  return Res(Pick(rng, {8, 16, 32, 64}), 0, Pick(rng, {32, 64, 128, 256}));
}

GroupSpec MakeGroup(Rng& rng, int serial) {
  GroupSpec g;
  g.name = "g" + std::to_string(serial);
  g.strategy = static_cast<Strategy>(Between(rng, 0, 3));
  const int count = std::min(Between(rng, 1, 4) * Between(rng, 1, 2), 8);
  const int kind = Between(rng, 0, 9);  // 0-5 GPU, 6-7 CPU-only, 8-9 GPU and one CPU-only
  if (kind >= 6 && kind <= 7) {
    for (int i = 0; i < count; ++i) g.bundles.push_back(CpuBundle(rng));
    return g;
  }
  const int64_t gpus = Pick(rng, {1, 1, 2, 4, 8});
  // A STRICT_PACK group asks for one node: at most 8 GPUs in all.
  const int fit = g.strategy == Strategy::kStrictPack ? static_cast<int>(8 / gpus) : count;
  for (int i = 0; i < std::min(count, fit); ++i) g.bundles.push_back(GpuBundle(rng, gpus));
  if (kind >= 8) g.bundles.push_back(CpuBundle(rng));
  return g;
}

}  // namespace

ChurnTrace MakeChurnTrace(uint64_t seed, int ops) {
  Rng rng(seed);
  ChurnTrace t;
  t.seed = seed;
  const int gpu_nodes = Between(rng, 8, 64);
  // Few CPU-only nodes: CPU bundles often have to share GPU nodes.
  const int cpu_nodes = Between(rng, gpu_nodes / 8, gpu_nodes / 4);
  for (int i = 0; i < gpu_nodes; ++i) {
    t.nodes.push_back({"gpu" + std::to_string(i),
                       Res(Pick(rng, {96, 128, 192}), 8, Pick(rng, {1024, 2048})),
                       {}});
    t.gpus += 8;
  }
  for (int i = 0; i < cpu_nodes; ++i) {
    t.nodes.push_back(
        {"cpu" + std::to_string(i), Res(Pick(rng, {64, 128}), 0, Pick(rng, {256, 512})), {}});
  }
  std::vector<std::string> live;
  int serial = 0;
  for (int i = 0; i < ops; ++i) {
    // Creates outnumber removes, so that the cluster fills and stays full.
    const bool create = live.empty() || Between(rng, 0, 99) < 58;
    ChurnOp op;
    if (create) {
      op.group = MakeGroup(rng, serial++);
      live.push_back(op.group.name);
    } else {
      const size_t k = std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng);
      op.create = false;
      op.name = live[k];
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    t.ops.push_back(std::move(op));
  }
  return t;
}

}  // namespace berth::bench
