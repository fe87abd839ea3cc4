#pragma once
// Dense, internal view of the cluster that the solver works on: resource
// names interned to small ids, per-node capacity in flat int64 arrays, and
// GPU devices as a vector of free units each.

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "berth/placement.h"
#include "berth/resources.h"
#include "placement/label_selector.h"

namespace berth::placement {

using Units = int64_t;                              // Quantity::units()
inline constexpr Units kDevice = Quantity::kScale;  // one whole GPU device
inline constexpr int kCpuId = 0;
inline constexpr int kGpuId = 1;
inline constexpr int kMemoryId = 2;

// Interns resource names. CPU, GPU and memory are always ids 0, 1, 2.
class ResourceIndex {
 public:
  ResourceIndex();
  int Intern(std::string_view name);
  int Find(std::string_view name) const;  // -1 when unknown
  const std::string& Name(int id) const { return names_[id]; }
  int size() const { return static_cast<int>(names_.size()); }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int> ids_;
};

// What one bundle asks for. GPU is kept apart from the divisible resources.
struct BundleDemand {
  std::vector<std::pair<int, Units>> scalars;  // non-GPU, sorted by id, zeros dropped
  Units gpu = 0;                               // a multiple of kDevice, or below it
  std::vector<LabelTerm> labels;               // the nodes it may use (label_selector.h)
  bool WholeGpu() const { return gpu >= kDevice; }
  Units Need(int rid) const;  // of any resource, GPU included
  bool operator==(const BundleDemand&) const = default;
};

struct NodeState {
  std::string name;
  std::map<std::string, std::string> labels;
  int label_class = 0;  // equal for nodes with equal labels (Cluster::LabelClass)
  bool alive = true;
  std::vector<Units> total;  // by resource id (GPU: device count * kDevice)
  std::vector<Units> free;
  std::vector<Units> device_free;  // per GPU device
  int full_devices = 0;            // devices with device_free == kDevice
  Units best_device_free = 0;      // the largest device_free

  void RefreshDeviceSummary();
};

// Capacity to test against: what is free now, or the node's totals (to tell
// "never fits" from "not now").
enum class Capacity { kFree, kTotal };

class Cluster {
 public:
  ResourceIndex& resources() { return resources_; }
  const ResourceIndex& resources() const { return resources_; }
  std::vector<NodeState>& nodes() { return nodes_; }
  const std::vector<NodeState>& nodes() const { return nodes_; }
  // Makes every node's vectors as long as the resource index.
  void Widen();
  int Find(std::string_view name) const;  // live node index or -1
  // The same number for the same labels; 0 for none.
  int LabelClass(const Labels& labels);
  // From now on nodes with different labels are different classes (a group
  // selects nodes by label). Until then labels do not split classes, which
  // keeps the classes few on a labelled cluster where nothing selects.
  void LabelsMatter();
  void AddAlive(int index) { by_name_[nodes_[index].name] = index; }
  void Forget(int index) { by_name_.erase(nodes_[index].name); }
  int alive_count() const { return static_cast<int>(by_name_.size()); }

  // Whether one bundle fits node n alone.
  bool Fits(int n, const BundleDemand& d, Capacity cap) const;
  // Best-fit score: the fraction of the node's requested resources left after
  // placing d (lower = fuller = preferred). Only meaningful when d fits.
  double Score(int n, const BundleDemand& d, Capacity cap) const;
  // The first resource (scarce first: GPU, custom, memory, CPU) of d that
  // node n lacks; -1 when d fits. `have` gets what the node has of it.
  int FirstShort(int n, const BundleDemand& d, Capacity cap, Units* have) const;

  // Live nodes with identical totals, free capacity and device shares are
  // interchangeable for every placement question, and the best-fit tie
  // break (lowest index) always prefers a class's first members. So the
  // solver looks at no more than `per_class` members of each class: the
  // lowest-indexed live ones not in `excluded`. Returned in node order.
  std::vector<int> Candidates(std::span<const int> excluded, size_t per_class) const;
  // Re-files node n after its capacity or liveness changed.
  void Reclassify(int n);
  size_t class_count() const { return classes_.size(); }

  Units Have(int n, int rid, Capacity cap) const {
    const NodeState& node = nodes_[n];
    return cap == Capacity::kFree ? node.free[rid] : node.total[rid];
  }

 private:
  struct KeyHash {
    size_t operator()(const std::vector<Units>& key) const;
  };
  void ClassKey(int n, std::vector<Units>* key) const;

  ResourceIndex resources_;
  size_t widened_to_ = 0;  // resource count the nodes were last widened to
  // Members of each class, ascending. A sorted vector: classes are small or
  // few, and this is the hot path of every placement and release.
  std::unordered_map<std::vector<Units>, std::vector<int>, KeyHash> classes_;
  std::vector<std::vector<Units>> key_of_;  // per node: its class key, empty when unfiled
  std::vector<NodeState> nodes_;            // never shrinks; removed nodes stay, not alive
  std::unordered_map<std::string, int> by_name_;
  std::map<Labels, int> label_classes_;
  bool labels_matter_ = false;
};

// Orders resources "scarce first" as Ray does: GPU, custom ones, memory, CPU.
int ScarcityRank(int rid);

}  // namespace berth::placement
