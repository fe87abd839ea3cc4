#pragma once
// What a tentative set of bundles takes from one node, during a search.

#include <vector>

#include "placement/cluster.h"
#include "placement/device_fit.h"

namespace berth::placement {

class NodeLoad {
 public:
  NodeLoad(const Cluster& cluster, int node, Capacity capacity);

  int node() const { return node_; }
  int count() const { return count_; }
  // Whether d fits on top of what is already added.
  bool Fits(const BundleDemand& d) const;
  void Add(const BundleDemand& d, int tag);
  // Undoes the last Add (which added d).
  void Pop(const BundleDemand& d);
  // Best-fit score of the node once d is added (lower is fuller).
  double ScoreWith(const BundleDemand& d) const;
  const std::vector<GpuAsk>& asks() const { return asks_; }

 private:
  Units Have(int rid) const { return cluster_->Have(node_, rid, capacity_); }

  const Cluster* cluster_;
  int node_;
  Capacity capacity_;
  std::vector<Units> used_;  // by resource id
  std::vector<GpuAsk> asks_;
  Units whole_sum_ = 0;
  int fractional_ = 0;
  int count_ = 0;
};

}  // namespace berth::placement
