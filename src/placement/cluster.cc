#include "placement/cluster.h"

#include <algorithm>

namespace berth::placement {

ResourceIndex::ResourceIndex() {
  Intern(kCpu);
  Intern(kGpu);
  Intern(kMemory);
}

int ResourceIndex::Intern(std::string_view name) {
  auto it = ids_.find(std::string(name));
  if (it != ids_.end()) return it->second;
  int id = static_cast<int>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(std::string(name), id);
  return id;
}

int ResourceIndex::Find(std::string_view name) const {
  auto it = ids_.find(std::string(name));
  return it == ids_.end() ? -1 : it->second;
}

void NodeState::RefreshDeviceSummary() {
  full_devices = 0;
  best_device_free = 0;
  for (Units f : device_free) {
    if (f == kDevice) ++full_devices;
    best_device_free = std::max(best_device_free, f);
  }
}

void Cluster::Widen() {
  size_t r = static_cast<size_t>(resources_.size());
  for (NodeState& n : nodes_) {
    if (n.total.size() < r) {
      n.total.resize(r, 0);
      n.free.resize(r, 0);
    }
  }
}

int Cluster::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? -1 : it->second;
}

namespace {
bool GpuFits(const NodeState& node, Units gpu, Capacity cap) {
  if (gpu == 0) return true;
  if (cap == Capacity::kTotal) {
    // Every device is whole when the node is empty.
    return gpu >= kDevice ? static_cast<Units>(node.device_free.size()) * kDevice >= gpu
                          : !node.device_free.empty();
  }
  return gpu >= kDevice ? Units{node.full_devices} * kDevice >= gpu : node.best_device_free >= gpu;
}
}  // namespace

bool Cluster::Fits(int n, const BundleDemand& d, Capacity cap) const {
  const NodeState& node = nodes_[n];
  const std::vector<Units>& have = cap == Capacity::kFree ? node.free : node.total;
  for (const auto& [rid, need] : d.scalars) {
    if (have[rid] < need) return false;
  }
  return GpuFits(node, d.gpu, cap);
}

double Cluster::Score(int n, const BundleDemand& d, Capacity cap) const {
  const NodeState& node = nodes_[n];
  const std::vector<Units>& have = cap == Capacity::kFree ? node.free : node.total;
  double score = 0;
  for (const auto& [rid, need] : d.scalars) {
    if (node.total[rid] > 0) {
      score += static_cast<double>(have[rid] - need) / static_cast<double>(node.total[rid]);
    }
  }
  if (d.gpu > 0 && node.total[kGpuId] > 0) {
    score += static_cast<double>(have[kGpuId] - d.gpu) / static_cast<double>(node.total[kGpuId]);
  }
  return score;
}

int ScarcityRank(int rid) {
  if (rid == kGpuId) return 0;
  if (rid == kMemoryId) return 1 << 29;
  if (rid == kCpuId) return 1 << 30;
  return rid;  // custom resources, in interning order
}

int Cluster::FirstShort(int n, const BundleDemand& d, Capacity cap, Units* have_out) const {
  const NodeState& node = nodes_[n];
  if (d.gpu > 0 && !GpuFits(node, d.gpu, cap)) {
    if (cap == Capacity::kTotal) {
      *have_out = static_cast<Units>(node.device_free.size()) * kDevice;
    } else {
      // What a bundle of this shape can use: whole free devices, or the
      // largest share left on one device.
      *have_out = d.gpu >= kDevice ? Units{node.full_devices} * kDevice : node.best_device_free;
    }
    return kGpuId;
  }
  int worst = -1;
  for (const auto& [rid, need] : d.scalars) {
    Units h = Have(n, rid, cap);
    if (h < need && (worst < 0 || ScarcityRank(rid) < ScarcityRank(worst))) {
      worst = rid;
      *have_out = h;
    }
  }
  return worst;
}

}  // namespace berth::placement
