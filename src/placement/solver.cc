// Solve: the placement search each strategy gets, from one-node scans to greedy and search.

#include "placement/solver.h"

#include <algorithm>
#include <vector>

#include "placement/solver_internal.h"

namespace berth::placement {

std::vector<Units> DeviceCapacity(const NodeState& node, Capacity capacity) {
  if (capacity == Capacity::kFree) return node.device_free;
  // NOLINTNEXTLINE(modernize-return-braced-init-list): {n, v} would be a two-element list
  return std::vector<Units>(node.device_free.size(), kDevice);
}

SolveResult Solve(const Cluster& c, const SolveRequest& r) {
  SolveResult out;
  if (r.bundles.empty()) {
    out.found = true;
    return out;
  }
  switch (r.strategy) {
    case Strategy::kStrictPack: {
      std::vector<int> nodes = r.pinned.empty()
                                   ? LiveNodes(c, {}, 1)
                                   : std::vector<int>(r.pinned.begin(), r.pinned.end());
      int n = r.bundles.size() == 1 ? BestNode(c, nodes, r.bundles[0], r.capacity)
                                    : BestSingleNode(c, nodes, r.bundles, r.capacity);
      if (n >= 0) {
        out.found = true;
        out.node_of.assign(r.bundles.size(), n);
      }
      return out;
    }
    case Strategy::kStrictSpread: {
      std::vector<int> nodes = LiveNodes(c, r.pinned, r.bundles.size());
      if (r.bundles.size() == 1) {
        int n = BestNode(c, nodes, r.bundles[0], r.capacity);
        if (n >= 0) out.node_of.assign(1, n);
      } else {
        out.node_of = MatchDistinct(c, r.bundles, nodes, r.capacity);
      }
      out.found = !out.node_of.empty() &&
                  std::none_of(out.node_of.begin(), out.node_of.end(), [](int n) { return n < 0; });
      if (!out.found) out.node_of.clear();
      return out;
    }
    case Strategy::kPack:
      if (r.bundles.size() == 1) {
        // Prefer a node the group already uses.
        int n = r.pinned.empty() ? -1 : BestNode(c, r.pinned, r.bundles[0], r.capacity);
        if (n < 0) n = BestNode(c, LiveNodes(c, {}, 1), r.bundles[0], r.capacity);
        if (n >= 0) {
          out.found = true;
          out.node_of.assign(1, n);
        }
        return out;
      }
      return SolvePack(c, r);
    case Strategy::kSpread:
      if (r.bundles.size() == 1) {
        // Prefer a node the group does not use yet.
        int n = BestNode(c, LiveNodes(c, r.pinned, 1), r.bundles[0], r.capacity);
        if (n < 0 && !r.pinned.empty()) n = BestNode(c, r.pinned, r.bundles[0], r.capacity);
        if (n >= 0) {
          out.found = true;
          out.node_of.assign(1, n);
        }
        return out;
      }
      return SolveSpread(c, r);
  }
  return out;
}

}  // namespace berth::placement
