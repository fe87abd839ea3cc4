#include "placement/node_load.h"

#include "placement/fit_score.h"
#include "placement/solver.h"

namespace berth::placement {

NodeLoad::NodeLoad(const Cluster& cluster, int node, Capacity capacity)
    : cluster_(&cluster),
      node_(node),
      capacity_(capacity),
      used_(static_cast<size_t>(cluster.resources().size()), 0) {}

bool NodeLoad::Fits(const BundleDemand& d) const {
  for (const auto& [rid, need] : d.scalars) {
    if (Have(rid) - used_[rid] < need) return false;
  }
  if (!d.labels.empty() && !LabelsMatch(d.labels, cluster_->nodes()[node_].labels)) return false;
  if (d.gpu == 0) return true;
  const NodeState& n = cluster_->nodes()[node_];
  if (fractional_ == 0 && d.WholeGpu()) {
    Units full = capacity_ == Capacity::kTotal ? static_cast<Units>(n.device_free.size())
                                               : Units{n.full_devices};
    return whole_sum_ + d.gpu <= full * kDevice;
  }
  std::vector<GpuAsk> asks = asks_;
  asks.push_back({-1, d.gpu});
  if (capacity_ == Capacity::kFree) return GpuAsksFit(n.device_free, asks);
  return GpuAsksFit(DeviceCapacity(n, capacity_), asks);
}

void NodeLoad::Add(const BundleDemand& d, int tag) {
  for (const auto& [rid, need] : d.scalars) used_[rid] += need;
  used_[kGpuId] += d.gpu;
  if (d.gpu > 0) {
    asks_.push_back({tag, d.gpu});
    if (d.WholeGpu()) {
      whole_sum_ += d.gpu;
    } else {
      ++fractional_;
    }
  }
  ++count_;
}

void NodeLoad::Pop(const BundleDemand& d) {
  for (const auto& [rid, need] : d.scalars) used_[rid] -= need;
  used_[kGpuId] -= d.gpu;
  if (d.gpu > 0) {
    asks_.pop_back();
    if (d.WholeGpu()) {
      whole_sum_ -= d.gpu;
    } else {
      --fractional_;
    }
  }
  --count_;
}

double NodeLoad::ScoreWith(const BundleDemand& d) const {
  return FitScore(cluster_->nodes()[node_], d,
                  [&](int rid) { return Have(rid) - used_[rid] - d.Need(rid); });
}

double NodeLoad::Score(const BundleDemand& asked) const {
  return FitScore(cluster_->nodes()[node_], asked, [&](int rid) { return Have(rid) - used_[rid]; });
}

}  // namespace berth::placement
