#pragma once
// Random churn traces for the placement replay (bench/churn_replay.cc): a
// cluster of 8-GPU nodes and CPU-only nodes, and a stream of group creates and
// removes in all four strategies, with GPU bundles (CPU and memory in
// proportion to their GPUs), CPU-only bundles, and groups that mix both.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/placement.h"

namespace berth::bench {

struct ChurnOp {
  bool create = true;
  GroupSpec group;   // create
  std::string name;  // remove
};

struct ChurnTrace {
  uint64_t seed = 0;
  std::vector<NodeSpec> nodes;
  std::vector<ChurnOp> ops;
  int64_t gpus = 0;  // whole devices in the cluster
};

// The same seed gives the same trace. 64 to 512 GPUs, `ops` operations.
ChurnTrace MakeChurnTrace(uint64_t seed, int ops);

}  // namespace berth::bench
