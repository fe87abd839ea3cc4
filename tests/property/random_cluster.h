#pragma once
// Random nodes, bundles and groups for the placement property tests, in four
// profiles (tight, roomy, GPU sharing, bin packing).

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "berth/placement.h"
#include "tests/property/property_util.h"

namespace berth::property_test {

inline constexpr const char* kCustom = "accel_slot";
inline constexpr const char* kRare = "rare";  // asked for by a few bundles, held by a few nodes

// What a case's cluster and groups look like.
enum class Profile {
  kTight,  // small nodes, so that groups contend
  kRoomy,  // realistic node sizes
  kGpu,    // few GPUs per node and mostly shared (fractional) asks: device packing
  kBins,   // bin packing in CPU and memory, PACK and SPREAD: where greedy is not optimal
};

inline Profile RandomProfile(Rng& r) {
  double u = r.Real();
  return u < 0.35  ? Profile::kTight
         : u < 0.6 ? Profile::kRoomy
         : u < 0.8 ? Profile::kGpu
                   : Profile::kBins;
}

inline NodeSpec RandomNode(Rng& r, const std::string& name, Profile profile,
                           const std::vector<NodeSpec>& seen) {
  NodeSpec n;
  n.name = name;
  if (!seen.empty() && r.Chance(0.35)) {
    // Identical nodes are common in real clusters (and in the solver's
    // symmetry pruning).
    const NodeSpec& twin = r.Pick(seen);
    n.resources = twin.resources;
    n.labels = twin.labels;
    return n;
  }
  if (profile == Profile::kBins) {
    n.resources.Set("CPU", Quantity::Whole(r.Pick(std::vector<int>{8, 10, 10, 12, 12, 16})));
    if (r.Chance(0.5)) n.resources.Set("memory", GiB(r.Pick(std::vector<int>{8, 12, 16})));
    if (r.Chance(0.2)) n.resources.Set("GPU", Quantity::Whole(r.Int(1, 4)));
    return n;
  }
  const bool tight = profile == Profile::kTight;
  const std::vector<double> cpus = tight ? std::vector<double>{2, 4, 4, 8, 8, 16, 6.5}
                                         : std::vector<double>{8, 16, 32, 48, 64, 96};
  n.resources.Set("CPU", Q(r.Pick(cpus)));
  if (r.Chance(0.85)) {
    const std::vector<int64_t> mems =
        tight ? std::vector<int64_t>{4, 8, 16, 32} : std::vector<int64_t>{32, 64, 128, 256, 512};
    n.resources.Set("memory", GiB(r.Pick(mems)));
  }
  const std::vector<int> gpus = profile == Profile::kGpu
                                    ? std::vector<int>{1, 1, 2, 2, 2, 3, 3, 4, 0, 8}
                                    : std::vector<int>{0, 0, 0, 1, 2, 2, 4, 4, 8, 8, 3, 5, 6, 7};
  int g = r.Pick(gpus);
  if (g > 0) {
    n.resources.Set("GPU", Quantity::Whole(g));
  } else if (r.Chance(0.1)) {
    n.resources.Set("GPU", Quantity::Whole(0));
  }
  if (r.Chance(0.3)) n.resources.Set(kCustom, Quantity::Whole(r.Pick(std::vector<int>{1, 2, 4})));
  if (r.Chance(0.05)) n.resources.Set(kRare, Quantity::Whole(2));
  if (r.Chance(0.3)) n.labels["zone"] = r.Chance(0.5) ? "a" : "b";
  return n;
}

inline ResourceSet RandomBundle(Rng& r, Profile profile) {
  ResourceSet b;
  const bool tight = profile == Profile::kTight;
  if (profile == Profile::kGpu) {
    // Shares of devices, some whole devices; a little CPU.
    if (r.Chance(0.7)) b.Set("CPU", Q(r.Pick(std::vector<double>{0.5, 1, 2})));
    if (r.Chance(0.78)) {
      b.Set("GPU", Q(r.Pick(std::vector<double>{0.1, 0.2, 0.25, 0.3, 0.3, 0.4, 0.4, 0.5, 0.6, 0.6,
                                                0.7, 0.75, 0.8, 0.9999})));
    } else {
      b.Set("GPU", Quantity::Whole(r.Pick(std::vector<int>{1, 1, 1, 2, 2, 3})));
    }
    return b;
  }
  if (profile == Profile::kBins) {
    b.Set("CPU", Quantity::Whole(r.Int(1, 7)));
    if (r.Chance(0.4)) b.Set("memory", GiB(r.Int(1, 7)));
    if (r.Chance(0.1)) b.Set("GPU", r.Chance(0.5) ? Q(0.5) : Quantity::Whole(1));
    return b;
  }
  if (r.Chance(0.85)) {
    const std::vector<double> cpus =
        tight ? std::vector<double>{0.5, 1, 1, 2, 2, 3, 4, 1.5, 0.0001, 6}
              : std::vector<double>{0.5, 1, 2, 4, 4, 8, 8, 16, 1.5, 0.0001, 24};
    b.Set("CPU", Q(r.Pick(cpus)));
  }
  if (r.Chance(0.5)) {
    const std::vector<int64_t> mems =
        tight ? std::vector<int64_t>{1, 2, 4, 8} : std::vector<int64_t>{2, 4, 8, 16, 32, 64, 128};
    Quantity m = GiB(r.Pick(mems));
    if (r.Chance(0.2)) m += Quantity::Whole(12345);  // not a round number of bytes
    b.Set("memory", m);
  }
  if (r.Chance(0.06)) b.Set(kCustom, Quantity::Whole(r.Int(1, 2)));
  if (r.Chance(0.015)) b.Set(kRare, Quantity::Whole(1));
  double u = r.Real();
  if (u < 0.4) {
    if (r.Chance(0.08)) b.Set("GPU", Quantity::Whole(0));
  } else if (u < 0.68) {
    b.Set("GPU",
          Q(r.Pick(std::vector<double>{0.25, 0.5, 0.3, 0.7, 0.25, 0.5, 0.1, 0.9999, 0.0001})));
  } else {
    b.Set("GPU", Quantity::Whole(r.Pick(std::vector<int>{1, 1, 1, 2, 2, 3, 4})));
  }
  if (b.AllZero()) b.Set("CPU", Quantity::Whole(1));
  return b;
}

// A bundle cut to the size of one node: a share of each of its resources and
// of its GPUs. Such bundles fit the cluster alone but contend with each other.
inline ResourceSet RandomBundleFor(Rng& r, const NodeSpec& node) {
  static const std::vector<std::pair<int, int>> cuts = {{1, 8}, {1, 4}, {1, 3}, {1, 2},
                                                        {1, 2}, {2, 3}, {1, 1}};
  ResourceSet b;
  for (const auto& [name, q] : node.resources.items()) {
    if (name == "GPU" || !r.Chance(0.7)) continue;
    auto [num, den] = r.Pick(cuts);
    Quantity part = Quantity::Units(q.units() / den * num);
    if (!part.IsZero()) b.Set(name, part);
  }
  const int64_t gpus = node.resources.Get("GPU").WholePart();
  if (gpus > 0 && r.Chance(0.6)) {
    if (r.Chance(0.5)) {
      b.Set("GPU", Q(r.Pick(std::vector<double>{0.25, 0.5, 0.3, 0.7, 0.5, 0.1})));
    } else {
      b.Set("GPU", Quantity::Whole(r.Int(1, static_cast<int>(std::min<int64_t>(4, gpus)))));
    }
  }
  if (b.AllZero()) b.Set("CPU", Quantity::Whole(1));
  return b;
}

inline Strategy RandomStrategy(Rng& r) {
  static const std::vector<Strategy> all = {Strategy::kPack, Strategy::kSpread,
                                            Strategy::kStrictPack, Strategy::kStrictSpread};
  return r.Pick(all);
}

// A group. With `nodes` (the live nodes' specs) most bundles are cut to the
// size of one of them, and STRICT_SPREAD groups mostly ask for no more bundles
// than there are nodes, so that most groups could fit and contend.
inline GroupSpec RandomGroup(Rng& r, const std::string& name, Profile profile, int max_bundles,
                             const std::vector<NodeSpec>& nodes = {}) {
  GroupSpec g;
  g.name = name;
  g.strategy = RandomStrategy(r);
  // Device packing happens among the bundles of one node: favour PACK.
  if (profile == Profile::kGpu && r.Chance(0.4)) {
    g.strategy = r.Chance(0.6) ? Strategy::kPack : Strategy::kStrictPack;
  }
  if (profile == Profile::kBins && r.Chance(0.7)) {
    g.strategy = r.Chance(0.6) ? Strategy::kPack : Strategy::kSpread;
  }
  int count = r.Chance(0.12) ? r.Int(std::min(7, max_bundles), max_bundles)
                             : r.Int(1, std::min(6, max_bundles));
  if (g.strategy == Strategy::kStrictSpread && !nodes.empty() && r.Chance(0.85)) {
    count = std::min(count, static_cast<int>(nodes.size()));
  }
  if (g.strategy == Strategy::kStrictPack && r.Chance(0.6)) count = std::min(count, 3);
  const bool cut =
      !nodes.empty() && profile != Profile::kBins && r.Chance(profile == Profile::kGpu ? 0.2 : 0.6);
  auto bundle = [&] { return cut ? RandomBundleFor(r, r.Pick(nodes)) : RandomBundle(r, profile); };
  if (profile == Profile::kBins && r.Chance(0.6))
    count = r.Int(std::min(4, max_bundles), max_bundles);
  // Bin packing is hard with mixed sizes.
  double shape = profile == Profile::kBins ? 0.4 + 0.6 * r.Real() : r.Real();
  std::vector<ResourceSet> shapes;
  if (shape < 0.4) {
    shapes = {bundle()};  // all bundles alike, as usual in practice
  } else if (shape < 0.7) {
    shapes = {bundle(), bundle()};
  }
  for (int i = 0; i < count; ++i) g.bundles.push_back(shapes.empty() ? bundle() : r.Pick(shapes));
  if (g.strategy == Strategy::kStrictPack && cut && count > 1 && r.Chance(0.5)) {
    // Cut the sum, not each bundle, to a node's size.
    ResourceSet each = RandomBundleFor(r, r.Pick(nodes));
    ResourceSet small;
    for (const auto& [rname, q] : each.items()) {
      if (rname == "GPU") {
        if (q < Quantity::Whole(1)) small.Set(rname, q);
        continue;
      }
      Quantity part = Quantity::Units(q.units() / count);
      if (!part.IsZero()) small.Set(rname, part);
    }
    if (small.AllZero()) small.Set("CPU", Q(0.5));
    g.bundles.assign(static_cast<size_t>(count), small);
  }
  return g;
}

}  // namespace berth::property_test
