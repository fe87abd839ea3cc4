// The placement search's greedy part: bundle order, best-fitting nodes, greedy PACK and SPREAD.

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include "placement/node_load.h"
#include "placement/solver_internal.h"

namespace berth::placement {
namespace {

// Negative when a should be placed before b: more GPU first, then custom
// resources, memory and CPU, larger first (Ray's SortRequiredResources, but
// stable: equal bundles keep their order).
int CompareScarce(const BundleDemand& a, const BundleDemand& b) {
  if (a.gpu != b.gpu) return a.gpu > b.gpu ? -1 : 1;
  auto ranked = [](const BundleDemand& d) {
    std::vector<std::pair<int, Units>> v;
    for (const auto& [rid, u] : d.scalars) v.emplace_back(ScarcityRank(rid), u);
    std::sort(v.begin(), v.end());
    return v;
  };
  auto ra = ranked(a);
  auto rb = ranked(b);
  size_t i = 0;
  for (; i < ra.size() && i < rb.size(); ++i) {
    if (ra[i].first != rb[i].first) return ra[i].first < rb[i].first ? -1 : 1;
    if (ra[i].second != rb[i].second) return ra[i].second > rb[i].second ? -1 : 1;
  }
  if (ra.size() != rb.size()) return ra.size() > rb.size() ? -1 : 1;
  return 0;
}

}  // namespace

std::vector<int> ScarceFirstOrder(std::span<const BundleDemand> bundles) {
  std::vector<int> order(bundles.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return CompareScarce(bundles[a], bundles[b]) < 0; });
  return order;
}

BundleDemand AskedBy(std::span<const BundleDemand> bundles) {
  BundleDemand sum;
  std::map<int, Units> scalars;
  for (const BundleDemand& d : bundles) {
    for (const auto& [rid, units] : d.scalars) scalars[rid] += units;
    sum.gpu += d.gpu;
  }
  sum.scalars.assign(scalars.begin(), scalars.end());
  return sum;
}

std::vector<int> LiveNodes(const Cluster& c, std::span<const int> excluded, size_t bundles) {
  return c.Candidates(excluded, std::max<size_t>(bundles, 1));
}

int BestNode(const Cluster& c, std::span<const int> nodes, const BundleDemand& d, Capacity cap) {
  Scored best{std::numeric_limits<double>::infinity(), -1};
  for (int n : nodes) {
    if (!c.Fits(n, d, cap)) continue;
    Scored s{c.Score(n, d, cap), n};
    if (best.node < 0 || s < best) best = s;
  }
  return best.node;
}

int BestSingleNode(const Cluster& c, std::span<const int> nodes,
                   std::span<const BundleDemand> bundles, Capacity cap) {
  const BundleDemand asked = AskedBy(bundles);
  Scored best{std::numeric_limits<double>::infinity(), -1};
  for (int n : nodes) {
    NodeLoad load(c, n, cap);
    bool ok = true;
    for (size_t b = 0; b < bundles.size() && ok; ++b) {
      ok = load.Fits(bundles[b]);
      if (ok) load.Add(bundles[b], static_cast<int>(b));
    }
    if (!ok) continue;
    // Score the node by what is left once everything is on it.
    Scored s{load.Score(asked), n};
    if (best.node < 0 || s < best) best = s;
  }
  return best.node;
}

int DistinctCount(const std::vector<int>& node_of, std::span<const int> pinned) {
  std::vector<int> all(node_of.begin(), node_of.end());
  all.insert(all.end(), pinned.begin(), pinned.end());
  std::sort(all.begin(), all.end());
  return static_cast<int>(std::unique(all.begin(), all.end()) - all.begin());
}

bool GreedyPack(const Cluster& c, std::span<const BundleDemand> bundles,
                std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<int> order = ScarceFirstOrder(bundles);
  const BundleDemand asked = AskedBy(bundles);
  std::vector<int> nodes = LiveNodes(c, {}, bundles.size());
  std::vector<NodeLoad> used;
  for (int n : pinned) used.emplace_back(c, n, cap);
  node_of->assign(bundles.size(), -1);
  std::vector<int> left = order;
  auto fill = [&](NodeLoad& load) {
    std::vector<int> rest;
    for (int b : left) {
      if (load.Fits(bundles[b])) {
        load.Add(bundles[b], b);
        (*node_of)[b] = load.node();
      } else {
        rest.push_back(b);
      }
    }
    left = std::move(rest);
  };
  for (NodeLoad& load : used) fill(load);
  std::vector<bool> is_used(c.nodes().size(), false);
  for (int n : pinned) is_used[n] = true;
  while (!left.empty()) {
    int best = -1;
    size_t best_count = 0;
    double best_score = 0;
    for (int n : nodes) {
      if (is_used[n]) continue;
      NodeLoad trial(c, n, cap);
      size_t count = 0;
      for (int b : left) {
        if (trial.Fits(bundles[b])) {
          trial.Add(bundles[b], b);
          ++count;
        }
      }
      if (count == 0) continue;
      double score = trial.Score(asked);
      if (count > best_count || (count == best_count && score < best_score)) {
        best = n;
        best_count = count;
        best_score = score;
      }
    }
    if (best < 0) return false;
    is_used[best] = true;
    used.emplace_back(c, best, cap);
    fill(used.back());
  }
  return true;
}

bool GreedySpread(const Cluster& c, std::span<const BundleDemand> bundles,
                  std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<int> fresh = LiveNodes(c, pinned, bundles.size());
  *node_of = MatchDistinct(c, bundles, fresh, cap);
  std::vector<NodeLoad> used;
  for (int n : pinned) used.emplace_back(c, n, cap);
  for (size_t b = 0; b < bundles.size(); ++b) {
    int n = (*node_of)[b];
    if (n < 0) continue;
    used.emplace_back(c, n, cap);
    used.back().Add(bundles[b], static_cast<int>(b));
  }
  for (int b : ScarceFirstOrder(bundles)) {
    if ((*node_of)[b] >= 0) continue;
    NodeLoad* best = nullptr;
    double best_score = 0;
    for (NodeLoad& load : used) {
      if (!load.Fits(bundles[b])) continue;
      double score = load.ScoreWith(bundles[b]);
      if (!best || load.count() < best->count() ||
          (load.count() == best->count() && score < best_score)) {
        best = &load;
        best_score = score;
      }
    }
    if (!best) return false;
    best->Add(bundles[b], b);
    (*node_of)[b] = best->node();
  }
  return true;
}

int PackLowerBound(const Cluster& c, std::span<const BundleDemand> bundles, Capacity cap) {
  int bound = 1;
  std::vector<Units> need(static_cast<size_t>(c.resources().size()), 0);
  for (const BundleDemand& d : bundles) {
    for (const auto& [rid, u] : d.scalars) need[rid] += u;
    need[kGpuId] += d.gpu;
  }
  for (int rid = 0; rid < c.resources().size(); ++rid) {
    if (need[rid] == 0) continue;
    Units most = 0;
    for (int n : LiveNodes(c, {}, 1)) most = std::max(most, c.Have(n, rid, cap));
    if (most > 0) bound = static_cast<int>(std::max<Units>(bound, (need[rid] + most - 1) / most));
  }
  return bound;
}

}  // namespace berth::placement
