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
  // Score of the node once d is added (FitScore: lower is better).
  double ScoreWith(const BundleDemand& d) const;
  // Score of the node as loaded, for what `asked` lists (see AskedBy).
  double Score(const BundleDemand& asked) const;
  const std::vector<GpuAsk>& asks() const { return asks_; }
  // What the node has left of resource rid (GPU in units) with the load on it.
  Units Left(int rid) const { return Have(rid) - used_[rid]; }

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
