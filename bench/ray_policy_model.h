#pragma once
// A model of Ray's placement-group scheduling, to replay the same stream of
// creates and removes against berth (bench/churn_replay.cc). It follows
// bundle_scheduling_policy.cc as documented in shared/reference/ray_pg.md
// §2.6: bundles sorted by GPU, memory, CPU (descending); each bundle onto the
// node with the most left of what it asks for (LeastResourceScorer); PACK
// fills that node first-fit before opening the next; SPREAD prefers unused
// nodes; STRICT_PACK places the sum on one node; STRICT_SPREAD takes a
// distinct node per bundle, greedily. Where Ray breaks ties by hash order
// this model takes the first node, so that a replay is reproducible.
// Resources are CPU, GPU (whole devices) and memory, in Quantity units.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"

namespace berth::bench {

using Amounts = std::array<int64_t, 3>;  // CPU, GPU, memory
inline constexpr size_t kCpuAt = 0;
inline constexpr size_t kGpuAt = 1;
inline constexpr size_t kMemoryAt = 2;

Amounts AmountsOf(const ResourceSet& r);

// Where Ray's policy puts `bundles` given what each node has available: the
// node index of each bundle, or nothing when the policy fails.
std::optional<std::vector<int>> RayPolicyPlace(const std::vector<Amounts>& available,
                                               const std::vector<Amounts>& bundles,
                                               Strategy strategy);

// Groups on a cluster under Ray's policy, with Ray's queue of pending groups
// retried in order after every removal.
class RayPolicyModel {
 public:
  explicit RayPolicyModel(const std::vector<NodeSpec>& nodes);
  // True when placed at once; otherwise the group waits.
  bool Create(const GroupSpec& group);
  // Releases what the group holds (or drops it from the queue), then retries
  // the waiting groups in order. Returns the names of those placed now.
  std::vector<std::string> Remove(const std::string& name);
  int64_t gpus_used() const;
  int64_t gpus_total() const { return gpus_total_; }

 private:
  struct Group {
    std::string name;
    Strategy strategy;
    std::vector<Amounts> bundles;
    std::vector<int> node_of;  // empty while waiting
  };
  bool TryPlace(Group& g);

  std::vector<Amounts> available_;
  int64_t gpus_total_ = 0;
  std::vector<Group> groups_;  // placed and waiting, in creation order
};

}  // namespace berth::bench
