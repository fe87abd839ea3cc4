#include "placement/cluster.h"

#include <algorithm>
#include <cstddef>

#include "placement/fit_score.h"

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
  auto r = static_cast<size_t>(resources_.size());
  // New nodes are built full width; only a new resource name widens the rest.
  if (r == widened_to_) return;
  widened_to_ = r;
  bool changed = false;
  for (NodeState& n : nodes_) {
    if (n.total.size() < r) {
      n.total.resize(r, 0);
      n.free.resize(r, 0);
      changed = true;
    }
  }
  // Keys carry every resource: refile all when a resource appears.
  if (changed) {
    for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) Reclassify(n);
  }
}

size_t Cluster::KeyHash::operator()(const std::vector<Units>& key) const {
  uint64_t h = 1469598103934665603ULL;
  for (Units u : key) h = (h ^ static_cast<uint64_t>(u)) * 1099511628211ULL;
  return static_cast<size_t>(h);
}

void Cluster::ClassKey(int n, std::vector<Units>* key) const {
  const NodeState& node = nodes_[n];
  key->clear();
  key->insert(key->end(), node.total.begin(), node.total.end());
  key->insert(key->end(), node.free.begin(), node.free.end());
  key->push_back(-1);
  size_t devices_at = key->size();
  key->insert(key->end(), node.device_free.begin(), node.device_free.end());
  std::sort(key->begin() + static_cast<std::ptrdiff_t>(devices_at), key->end());
  // Nodes with different labels are not interchangeable.
  if (labels_matter_) key->push_back(node.label_class);
}

void Cluster::Reclassify(int n) {
  if (key_of_.size() < nodes_.size()) key_of_.resize(nodes_.size());
  std::vector<Units>& key = key_of_[n];
  if (!key.empty()) {
    auto it = classes_.find(key);
    if (it != classes_.end()) {
      std::vector<int>& members = it->second;
      auto at = std::lower_bound(members.begin(), members.end(), n);
      if (at != members.end() && *at == n) members.erase(at);
      if (members.empty()) classes_.erase(it);
    }
  }
  if (!nodes_[n].alive) {
    key.clear();
    return;
  }
  ClassKey(n, &key);
  std::vector<int>& members = classes_[key];
  members.insert(std::lower_bound(members.begin(), members.end(), n), n);
}

std::vector<int> Cluster::Candidates(std::span<const int> excluded, size_t per_class) const {
  std::vector<int> out;
  for (const auto& [key, members] : classes_) {
    size_t taken = 0;
    for (int n : members) {
      if (taken == per_class) break;
      if (std::find(excluded.begin(), excluded.end(), n) != excluded.end()) continue;
      out.push_back(n);
      ++taken;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

int Cluster::LabelClass(const Labels& labels) {
  if (labels.empty()) return 0;
  auto [it, added] =
      label_classes_.try_emplace(labels, static_cast<int>(label_classes_.size()) + 1);
  return it->second;
}

void Cluster::LabelsMatter() {
  if (labels_matter_) return;
  labels_matter_ = true;
  for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) Reclassify(n);
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
  if (!d.labels.empty() && !LabelsMatch(d.labels, node.labels)) return false;
  return GpuFits(node, d.gpu, cap);
}

double Cluster::Score(int n, const BundleDemand& d, Capacity cap) const {
  const NodeState& node = nodes_[n];
  const std::vector<Units>& have = cap == Capacity::kFree ? node.free : node.total;
  return FitScore(node, d, [&](int rid) { return have[rid] - d.Need(rid); });
}

Units BundleDemand::Need(int rid) const {
  if (rid == kGpuId) return gpu;
  for (const auto& [id, units] : scalars) {
    if (id == rid) return units;
  }
  return 0;
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
