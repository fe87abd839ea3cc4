#pragma once
// The placement search: where each bundle of a group goes.
//
// Complete where the issue demands it and fast where clusters are large:
//   STRICT_PACK    one node that holds the sum (exact scan).
//   STRICT_SPREAD  bipartite matching of bundles to distinct nodes (exact).
//   PACK / SPREAD  greedy first; when the greedy answer is not provably
//                  optimal (fewest / most distinct nodes), a depth-first
//                  search with symmetry pruning finds the optimum, within a
//                  step budget that covers every instance of up to 8 nodes and
//                  8 bundles. Past the budget the best answer found stands.
// Every tie is broken by best fit (the node left fullest), then node order.

#include <span>
#include <vector>

#include "placement/cluster.h"

namespace berth::placement {

struct SolveRequest {
  Strategy strategy = Strategy::kPack;
  std::span<const BundleDemand> bundles;  // the bundles to place now
  // Nodes that already hold other bundles of this group (after a node loss);
  // distinct, live. They count as used nodes for PACK/SPREAD, exclude
  // themselves for STRICT_SPREAD and are the only choice for STRICT_PACK.
  std::span<const int> pinned;
  Capacity capacity = Capacity::kFree;
};

struct SolveResult {
  bool found = false;
  std::vector<int> node_of;       // per bundle, a node index
  bool budget_exhausted = false;  // the answer may not be optimal / complete
};

SolveResult Solve(const Cluster& cluster, const SolveRequest& request);

// Size of a maximum matching of bundles to distinct live nodes (each bundle on
// a node that holds it alone), excluding `excluded`.
int MaxDistinctNodes(const Cluster& cluster, std::span<const BundleDemand> bundles,
                     std::span<const int> excluded, Capacity capacity);

// The GPU devices a node offers under `capacity`.
std::vector<Units> DeviceCapacity(const NodeState& node, Capacity capacity);

}  // namespace berth::placement
