// Ray's bundle policies for PACK and SPREAD (bundle_scheduling_policy.cc),
// on berth's cluster model: each bundle goes to the node with the most left
// of what it asks for (Ray's LeastResourceScorer). Used only when berth's
// best-fit greedy finds nothing: a different order of nodes sometimes fits
// where best fit does not, and the search behind it has a budget.

#include <vector>

#include "placement/node_load.h"
#include "placement/solver_internal.h"

namespace berth::placement {
namespace {

// Ray's score of `load` for d: per asked resource, the fraction of what is
// left that stays left; higher is emptier. Resources with nothing left add 0.
double LeastAllocatedScore(const NodeLoad& load, const BundleDemand& d) {
  double score = 0;
  auto add = [&](int rid, Units need) {
    const Units left = load.Left(rid);
    if (left > 0) score += static_cast<double>(left - need) / static_cast<double>(left);
  };
  for (const auto& [rid, need] : d.scalars) add(rid, need);
  if (d.gpu > 0) add(kGpuId, d.gpu);
  return score;
}

// The emptiest of `loads` that takes d (first among equals), or nullptr.
NodeLoad* Emptiest(std::vector<NodeLoad>& loads, const std::vector<bool>& usable,
                   const BundleDemand& d) {
  NodeLoad* best = nullptr;
  double best_score = 0;
  for (size_t i = 0; i < loads.size(); ++i) {
    if (!usable[i] || !loads[i].Fits(d)) continue;
    const double score = LeastAllocatedScore(loads[i], d);
    if (best == nullptr || score > best_score) {
      best = &loads[i];
      best_score = score;
    }
  }
  return best;
}

// Every live node (identical ones up to the bundle count) and the pinned
// ones, as empty loads; pinned first.
std::vector<NodeLoad> Loads(const Cluster& c, std::span<const int> pinned, size_t bundles,
                            Capacity cap) {
  std::vector<NodeLoad> loads;
  for (int n : pinned) loads.emplace_back(c, n, cap);
  for (int n : LiveNodes(c, pinned, bundles)) loads.emplace_back(c, n, cap);
  return loads;
}

}  // namespace

bool LeastAllocatedPack(const Cluster& c, std::span<const BundleDemand> bundles,
                        std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<NodeLoad> loads = Loads(c, pinned, bundles.size(), cap);
  std::vector<bool> usable(loads.size(), true);
  node_of->assign(bundles.size(), -1);
  std::vector<int> left = ScarceFirstOrder(bundles);
  while (!left.empty()) {
    // The first bundle left opens the emptiest node; every other bundle
    // that still fits there follows (first fit), and the node is done.
    NodeLoad* best = Emptiest(loads, usable, bundles[left.front()]);
    if (best == nullptr) return false;
    usable[static_cast<size_t>(best - loads.data())] = false;
    std::vector<int> rest;
    for (int b : left) {
      if (best->Fits(bundles[b])) {
        best->Add(bundles[b], b);
        (*node_of)[b] = best->node();
      } else {
        rest.push_back(b);
      }
    }
    left = std::move(rest);
  }
  return true;
}

bool LeastAllocatedSpread(const Cluster& c, std::span<const BundleDemand> bundles,
                          std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<NodeLoad> loads = Loads(c, pinned, bundles.size(), cap);
  std::vector<bool> fresh(loads.size(), true);
  std::vector<bool> used(loads.size(), false);
  for (size_t i = 0; i < pinned.size(); ++i) {
    fresh[i] = false;
    used[i] = true;
  }
  node_of->assign(bundles.size(), -1);
  for (int b : ScarceFirstOrder(bundles)) {
    // A node the group does not use yet, else one it uses.
    NodeLoad* best = Emptiest(loads, fresh, bundles[b]);
    if (best == nullptr) best = Emptiest(loads, used, bundles[b]);
    if (best == nullptr) return false;
    const auto i = static_cast<size_t>(best - loads.data());
    fresh[i] = false;
    used[i] = true;
    best->Add(bundles[b], b);
    (*node_of)[b] = best->node();
  }
  return true;
}

}  // namespace berth::placement
