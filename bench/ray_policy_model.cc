// Ray's bundle scheduling policies, modelled for the churn replay (see the header).

#include "bench/ray_policy_model.h"

#include <algorithm>
#include <numeric>

namespace berth::bench {
namespace {

bool Fits(const Amounts& have, const Amounts& need) {
  for (size_t r = 0; r < need.size(); ++r) {
    if (have[r] < need[r]) return false;
  }
  return true;
}

void Take(Amounts& have, const Amounts& need) {
  for (size_t r = 0; r < need.size(); ++r) have[r] -= need[r];
}

// LeastResourceScorer: per asked resource, (available - asked) / available;
// a resource with nothing available adds 0. Higher is emptier.
double Score(const Amounts& have, const Amounts& need) {
  double score = 0;
  for (size_t r = 0; r < need.size(); ++r) {
    if (need[r] > 0 && have[r] > 0) {
      score += static_cast<double>(have[r] - need[r]) / static_cast<double>(have[r]);
    }
  }
  return score;
}

// The emptiest node among `usable` that fits `need` (the first among equals), or -1.
int BestNode(const std::vector<Amounts>& have, const std::vector<bool>& usable,
             const Amounts& need) {
  int best = -1;
  double best_score = 0;
  for (size_t n = 0; n < have.size(); ++n) {
    if (!usable[n] || !Fits(have[n], need)) continue;
    const double score = Score(have[n], need);
    if (best < 0 || score > best_score) {
      best = static_cast<int>(n);
      best_score = score;
    }
  }
  return best;
}

// SortRequiredResources: GPU, then memory, then CPU, larger first.
std::vector<int> SortedBundles(const std::vector<Amounts>& bundles) {
  std::vector<int> order(bundles.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const Amounts& x = bundles[a];
    const Amounts& y = bundles[b];
    if (x[kGpuAt] != y[kGpuAt]) return x[kGpuAt] > y[kGpuAt];
    if (x[kMemoryAt] != y[kMemoryAt]) return x[kMemoryAt] > y[kMemoryAt];
    return x[kCpuAt] > y[kCpuAt];
  });
  return order;
}

}  // namespace

Amounts AmountsOf(const ResourceSet& r) {
  return {r.Get(kCpu).units(), r.Get(kGpu).units(), r.Get(kMemory).units()};
}

std::optional<std::vector<int>> RayPolicyPlace(const std::vector<Amounts>& available,
                                               const std::vector<Amounts>& bundles,
                                               Strategy strategy) {
  std::vector<Amounts> have = available;
  std::vector<int> node_of(bundles.size(), -1);
  const std::vector<int> order = SortedBundles(bundles);
  std::vector<bool> usable(have.size(), true);
  switch (strategy) {
    case Strategy::kStrictPack: {
      Amounts sum{};
      for (const Amounts& b : bundles) {
        for (size_t r = 0; r < sum.size(); ++r) sum[r] += b[r];
      }
      const int n = BestNode(have, usable, sum);
      if (n < 0) return std::nullopt;
      node_of.assign(bundles.size(), n);
      return node_of;
    }
    case Strategy::kStrictSpread:
      for (int b : order) {
        const int n = BestNode(have, usable, bundles[b]);
        if (n < 0) return std::nullopt;
        usable[n] = false;
        node_of[b] = n;
      }
      return node_of;
    case Strategy::kSpread: {
      std::vector<bool> used(have.size(), false);
      for (int b : order) {
        int n = BestNode(have, usable, bundles[b]);
        if (n < 0) n = BestNode(have, used, bundles[b]);
        if (n < 0) return std::nullopt;
        usable[n] = false;
        used[n] = true;
        Take(have[n], bundles[b]);
        node_of[b] = n;
      }
      return node_of;
    }
    case Strategy::kPack: {
      std::vector<int> left = order;
      while (!left.empty()) {
        const int n = BestNode(have, usable, bundles[left.front()]);
        if (n < 0) return std::nullopt;
        usable[n] = false;
        std::vector<int> rest;
        for (int b : left) {
          if (Fits(have[n], bundles[b])) {
            Take(have[n], bundles[b]);
            node_of[b] = n;
          } else {
            rest.push_back(b);
          }
        }
        left = std::move(rest);
      }
      return node_of;
    }
  }
  return std::nullopt;
}

RayPolicyModel::RayPolicyModel(const std::vector<NodeSpec>& nodes) {
  for (const NodeSpec& n : nodes) {
    available_.push_back(AmountsOf(n.resources));
    gpus_total_ += available_.back()[kGpuAt];
  }
}

bool RayPolicyModel::TryPlace(Group& g) {
  std::optional<std::vector<int>> at = RayPolicyPlace(available_, g.bundles, g.strategy);
  if (!at) return false;
  g.node_of = std::move(*at);
  for (size_t b = 0; b < g.bundles.size(); ++b) Take(available_[g.node_of[b]], g.bundles[b]);
  return true;
}

bool RayPolicyModel::Create(const GroupSpec& group) {
  Group g{group.name, group.strategy, {}, {}};
  for (const ResourceSet& b : group.bundles) g.bundles.push_back(AmountsOf(b));
  const bool placed = TryPlace(g);
  groups_.push_back(std::move(g));
  return placed;
}

std::vector<std::string> RayPolicyModel::Remove(const std::string& name) {
  auto it =
      std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.name == name; });
  if (it == groups_.end()) return {};
  for (size_t b = 0; b < it->node_of.size(); ++b) {
    for (size_t r = 0; r < kMemoryAt + 1; ++r) available_[it->node_of[b]][r] += it->bundles[b][r];
  }
  groups_.erase(it);
  std::vector<std::string> placed;
  for (Group& g : groups_) {
    if (g.node_of.empty() && TryPlace(g)) placed.push_back(g.name);
  }
  return placed;
}

int64_t RayPolicyModel::gpus_used() const {
  int64_t free = 0;
  for (const Amounts& a : available_) free += a[kGpuAt];
  return gpus_total_ - free;
}

}  // namespace berth::bench
