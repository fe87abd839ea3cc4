#pragma once
// How well a node suits what is added to it (lower is better), shared by the
// single-node scan (Cluster::Score) and the searches (NodeLoad).
//
// Best fit first: the fraction of each asked resource the node has left, so
// that the fullest node that fits wins and whole nodes stay whole. Then two
// terms that keep GPUs usable, the cause of most groups left pending over a
// stream of creates and removes: a GPU node whose CPUs or memory are gone
// while GPUs are free strands those GPUs, and a bundle without GPUs that
// lands on a node with free GPUs takes CPU and memory that GPU bundles need.

#include <algorithm>

#include "placement/cluster.h"

namespace berth::placement {

// A GPU-less bundle on a node with all its GPUs free scores this much worse
// than on a node without free GPUs: more than any best-fit difference of one
// resource, so CPU-only nodes are used first while they have room.
inline constexpr double kGpuAvoidWeight = 2.0;
// Per resource (CPU, memory): how much worse for each unit by which the
// addition raises the node's free-GPU fraction beyond its free fraction of
// that resource (GPUs left without the CPUs or memory to use them).
inline constexpr double kStrandWeight = 1.0;

// `asked`: what is added (its listed resources count, GPU when above 0);
// left(rid): what the node has of resource rid once it is added.
template <typename Left>
double FitScore(const NodeState& node, const BundleDemand& asked, Left left) {
  auto fraction = [&](int rid, Units units) {
    return static_cast<double>(units) / static_cast<double>(node.total[rid]);
  };
  double score = 0;
  for (const auto& [rid, need] : asked.scalars) {
    if (node.total[rid] > 0) score += fraction(rid, left(rid));
  }
  if (node.total[kGpuId] == 0) return score;
  const double gpus_free = fraction(kGpuId, left(kGpuId));
  if (asked.gpu > 0) score += gpus_free;
  if (asked.gpu == 0 && gpus_free > 0) score += kGpuAvoidWeight * gpus_free;
  // Stranding this addition causes (or undoes: a GPU bundle on a node short
  // of CPUs puts GPUs to use that nothing else could).
  const double gpus_free_before = fraction(kGpuId, left(kGpuId) + asked.gpu);
  for (int rid : {kCpuId, kMemoryId}) {
    if (node.total[rid] == 0) continue;
    const double after = std::max(0.0, gpus_free - fraction(rid, left(rid)));
    const double before =
        std::max(0.0, gpus_free_before - fraction(rid, left(rid) + asked.Need(rid)));
    score += kStrandWeight * (after - before);
  }
  return score;
}

}  // namespace berth::placement
