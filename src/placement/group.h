#pragma once
// The engine's record of one placement group.

#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "placement/cluster.h"

namespace berth::placement {

struct GroupRecord {
  std::string name;
  Strategy strategy = Strategy::kPack;
  GroupState state = GroupState::kPending;
  std::vector<ResourceSet> spec;
  std::vector<BundleDemand> demands;
  std::vector<int> node_of;                 // per bundle; -1 while not placed
  std::vector<std::vector<GpuShare>> gpus;  // per bundle, while placed
  std::vector<int> lost;                    // bundles lost with a node, for the reason
  std::optional<Topology> topology;
  std::string domain;           // placed inside this domain of topology->key
  bool across_domains = false;  // placed, kPrefer, no single domain had room
  // Whether the group fits the empty cluster, cached per cluster topology.
  uint64_t totals_version = ~uint64_t{0};
  bool fits_totals = false;
  bool totals_budget_exhausted = false;

  std::vector<int> Unplaced() const;
  std::vector<int> PinnedNodes() const;  // distinct nodes of placed bundles, ascending
};

// Builds the explanation of a group that is not (fully) placed.
Explanation ExplainGroup(const Cluster& cluster, const GroupRecord& group);

}  // namespace berth::placement
