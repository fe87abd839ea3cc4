#pragma once
// The placement engine: placement groups of resource bundles placed
// all-or-nothing on a cluster's nodes, with Ray's four strategies, concrete
// GPU device ids, and an explanation for every group that is not placed.
//
// The engine is pure: no I/O, no clock, no logging, no global state. The same
// calls give the same result, byte for byte. Not thread-safe: one engine is
// driven by one thread (callers that share one must lock around it).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/explanation.h"
#include "berth/resources.h"
#include "berth/status.h"

namespace berth {

enum class Strategy { kPack, kSpread, kStrictPack, kStrictSpread };
const char* StrategyName(Strategy s);  // "PACK", "STRICT_SPREAD", ...
// Accepts exactly the four names above; the error names `field`.
Result<Strategy> ParseStrategy(std::string_view text, std::string_view field);

// CREATED: every bundle placed. PENDING: fits the cluster's totals but not its
// free capacity now. INFEASIBLE: can never fit the current nodes. RESCHEDULING:
// a node holding some bundles was removed; the survivors stay placed and the
// lost bundles wait. REMOVED: removed by the user; holds nothing.
enum class GroupState { kCreated, kPending, kInfeasible, kRescheduling, kRemoved };
const char* GroupStateName(GroupState s);

// A node. GPU, when present, must be whole: a node with GPU: 8 has devices
// 0..7 of capacity 1 each. Any other name is a plain divisible quantity.
struct NodeSpec {
  std::string name;
  ResourceSet resources;
  std::map<std::string, std::string> labels;
  bool operator==(const NodeSpec&) const = default;
};

// All of a group's bundles on nodes that share one value of the label `key`
// (a rack, an NVLink domain, a zone), the way Kubernetes uses a topology
// key. kRequire: only inside one such domain (the group waits otherwise).
// kPrefer: inside one domain whenever one has room, else across domains,
// which the group's view says (GroupView::across_domains).
struct Topology {
  enum class Mode { kPrefer, kRequire };
  std::string key;
  Mode mode = Mode::kPrefer;
  bool operator==(const Topology&) const = default;
};
// "prefer", "require"; and back (the error names `field`).
const char* TopologyModeName(Topology::Mode m);
Result<Topology::Mode> ParseTopologyMode(std::string_view text, std::string_view field);

// A placement group: an ordered list of bundles and a strategy.
// A bundle's GPU is either a whole number (that many whole devices) or below
// 1 (a share of one device).
struct GroupSpec {
  std::string name;
  Strategy strategy = Strategy::kPack;
  std::vector<ResourceSet> bundles;
  // Empty, or one map per bundle: the labels a node needs to hold that
  // bundle, in Ray's syntax: key -> "v", "!v", "in(a,b)" or "!in(a,b)"; all
  // must hold; a node without the key matches only the negative forms.
  std::vector<std::map<std::string, std::string>> bundle_label_selector;
  std::optional<Topology> topology;
  bool operator==(const GroupSpec&) const = default;
};

struct GpuShare {
  int device = 0;
  Quantity fraction;  // 1 for a whole device
  bool operator==(const GpuShare&) const = default;
};

struct BundlePlacement {
  int index = 0;
  std::string node;
  std::vector<GpuShare> gpus;  // ascending device ids
  bool operator==(const BundlePlacement&) const = default;
};

struct GroupView {
  std::string name;
  Strategy strategy = Strategy::kPack;
  GroupState state = GroupState::kPending;
  std::vector<ResourceSet> bundles;  // the spec
  // CREATED: every bundle. RESCHEDULING: the bundles still held. Else empty.
  std::vector<BundlePlacement> placed;
  // With a topology, once placed: the domain (the key's value) it is in, or
  // across_domains when kPrefer found no single domain with room.
  std::string domain;
  bool across_domains = false;
};

struct DeviceView {
  int id = 0;
  Quantity free;
};

struct NodeView {
  std::string name;
  ResourceSet total;
  ResourceSet available;
  std::vector<DeviceView> gpus;
  std::map<std::string, std::string> labels;
};

// Why a group is not placed: Explanation, NodeExplanation, NodeVerdict and
// ReasonCode are in berth/explanation.h.

class PlacementEngine {
 public:
  PlacementEngine();
  ~PlacementEngine();
  PlacementEngine(PlacementEngine&& other) noexcept;
  PlacementEngine& operator=(PlacementEngine&& other) noexcept;

  // Adds a node and retries every waiting group. Errors: empty or duplicate
  // name, GPU not whole or above 1024 devices.
  Status AddNode(const NodeSpec& node);
  // Removes a node. Groups with bundles on it become RESCHEDULING: the
  // surviving bundles stay, the lost ones are placed again under the group's
  // strategy (at once when possible). Errors: unknown node.
  Status RemoveNode(std::string_view name);
  // Creates a group and tries to place it at once. Returns its state.
  // Errors (kInvalidSpec): empty or duplicate name, no bundles, an empty or
  // all-zero bundle, GPU >= 1 that is not whole.
  Result<GroupState> CreateGroup(const GroupSpec& group);
  // Removes a group, releasing exactly what it held, and retries waiting
  // groups. Errors: unknown or already removed group.
  Status RemoveGroup(std::string_view name);
  // Forgets REMOVED groups so that their names can be used again.
  void PurgeRemoved();

  // Queries. Groups in creation order; nodes in the order they were added.
  std::optional<GroupView> Group(std::string_view name) const;
  std::vector<GroupView> Groups() const;
  std::vector<NodeView> Nodes() const;
  size_t group_count() const;
  // Why `name` is not placed, against the cluster as it is now.
  std::optional<Explanation> Explain(std::string_view name) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth
