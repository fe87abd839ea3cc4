#pragma once
// An exhaustive placement oracle for the property tests.
//
// Independent of the engine's solver, NodeLoad and device packing: it only
// uses the public types (ResourceSet, NodeView, Strategy) and decides, by
// enumerating every assignment of bundles to nodes and, per node, every
// assignment of GPU pieces to devices, whether a group fits and how few / how
// many distinct nodes a valid placement can use. Pruning is limited to what is
// obviously sound: capacity (a partial assignment that overflows a node is
// dropped), interchangeable untouched nodes / devices with identical capacity,
// and bounds on the distinct-node count. `Options::symmetry = false` turns the
// symmetry pruning off, so the tests can check the pruning itself on tiny
// instances.
//
// Meant for small instances (<= 8 nodes, <= 8 bundles). Every search has a
// step limit; an answer with complete == false proves nothing.
//
// Not globbed by CMake (only *_test.cc are): brute_force.cc is compiled by
// being included from brute_force_test.cc.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "berth/resources.h"

namespace berth::brute_force {

using Units = int64_t;
inline constexpr Units kOne = Quantity::kScale;  // one whole GPU device

struct Node {
  std::string name;
  std::map<std::string, Units> scalars;  // every resource but GPU; zeros dropped
  std::vector<Units> devices;            // free units per GPU device (kOne = fully free)
};

struct Bundle {
  std::map<std::string, Units> scalars;  // every resource but GPU; zeros dropped
  Units gpu = 0;                         // a multiple of kOne, or below kOne
};

Bundle FromSpec(const ResourceSet& spec);
// A node as it is now (available resources, free device shares).
Node FreeOf(const NodeView& view);
// A node as it is when empty (totals, every device fully free).
Node TotalOf(const NodeView& view);

struct Options {
  long max_steps = 2'000'000;  // over the whole search, GPU packing included
  bool symmetry = true;
};

// Whether GPU asks fit together on devices with `devices` free: a whole ask of
// k takes k distinct fully free devices (whole), a fractional ask takes that
// share of one device. Exhaustive. `steps` is charged one per search node;
// returns false and sets *gave_up when it passes `limit`.
bool GpuAsksFit(const std::vector<Units>& devices, const std::vector<Units>& asks, bool symmetry,
                long limit, long* steps, bool* gave_up);

// Whether all of `bundles` fit on `node` together (scalars and GPU devices).
// Sets *gave_up (when given) if the GPU enumeration hit its limit.
bool FitsTogether(const Node& node, const std::vector<Bundle>& bundles, bool* gave_up = nullptr);

struct Problem {
  Strategy strategy = Strategy::kPack;
  std::vector<Node> nodes;
  std::vector<Bundle> bundles;
  // Nodes (indices into `nodes`) that already hold other bundles of the
  // group: they count as used for PACK / SPREAD, are excluded for
  // STRICT_SPREAD, and are the only choice for STRICT_PACK when non-empty.
  std::vector<int> pinned;
};

enum class Goal {
  kFeasible,     // any valid placement
  kFewestNodes,  // a valid placement using the fewest distinct nodes (pinned included)
  kMostNodes,    // a valid placement using the most distinct nodes (pinned included)
};

struct Answer {
  bool complete = true;  // false: the step limit was hit, nothing is proven
  bool feasible = false;
  int distinct = -1;         // distinct nodes of `witness`, pinned included
  std::vector<int> witness;  // node index per bundle, when feasible
  long steps = 0;
};

Answer Solve(const Problem& problem, Goal goal, const Options& options = {});

// Checks a placement (node index per bundle) against the problem: capacity
// per node (GPU devices exactly) and the strategy's hard constraints.
bool IsValid(const Problem& problem, const std::vector<int>& node_of);

// Distinct nodes of a placement, pinned included.
int DistinctNodes(const Problem& problem, const std::vector<int>& node_of);

}  // namespace berth::brute_force
