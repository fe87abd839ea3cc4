#pragma once
// Internals of the placement search shared by solver*.cc: bundle order, fits, greedy, search.

#include <cstddef>
#include <span>
#include <vector>

#include "placement/cluster.h"
#include "placement/solver.h"

namespace berth::placement {

struct Scored {
  double score;
  int node;
  bool operator<(const Scored& o) const {
    return score != o.score ? score < o.score : node < o.node;
  }
};

// The bundles' indices, scarcest first (CompareScarce), equal bundles in
// their order.
std::vector<int> ScarceFirstOrder(std::span<const BundleDemand> bundles);

// Everything `bundles` ask for together: per resource the sum (for scores
// of a node that takes several of them).
BundleDemand AskedBy(std::span<const BundleDemand> bundles);

// The nodes worth looking at for a request of `bundles` bundles: every class
// of identical nodes contributes at most that many (see Cluster::Candidates).
std::vector<int> LiveNodes(const Cluster& c, std::span<const int> excluded, size_t bundles);

// The best-fitting node among `nodes` for one bundle, or -1.
int BestNode(const Cluster& c, std::span<const int> nodes, const BundleDemand& d, Capacity cap);

// The node that holds all of `bundles` and is left fullest, or -1.
int BestSingleNode(const Cluster& c, std::span<const int> nodes,
                   std::span<const BundleDemand> bundles, Capacity cap);

// A maximum matching of bundles to distinct nodes of `nodes` (solver_match.cc):
// the node of each bundle, -1 when unmatched.
std::vector<int> MatchDistinct(const Cluster& c, std::span<const BundleDemand> bundles,
                               std::span<const int> nodes, Capacity cap);

// The distinct nodes of a placement, pinned ones included.
int DistinctCount(const std::vector<int>& node_of, std::span<const int> pinned);

// Greedy PACK: fill nodes already used, then open the node that takes the
// most of what is left (best fit among equals), until everything is placed.
bool GreedyPack(const Cluster& c, std::span<const BundleDemand> bundles,
                std::span<const int> pinned, Capacity cap, std::vector<int>* node_of);

// Greedy SPREAD: a maximum matching onto distinct fresh nodes, then the rest
// onto the used node with the fewest of this group's bundles (best fit among
// equals).
bool GreedySpread(const Cluster& c, std::span<const BundleDemand> bundles,
                  std::span<const int> pinned, Capacity cap, std::vector<int>* node_of);

// Ray's PACK and SPREAD policies (solver_least_allocated.cc): greedy onto
// the emptiest node. A second opinion when berth's own greedy finds nothing
// and the search may run out of budget, so that berth never leaves pending a
// group that Ray's policy would place on the same cluster.
bool LeastAllocatedPack(const Cluster& c, std::span<const BundleDemand> bundles,
                        std::span<const int> pinned, Capacity cap, std::vector<int>* node_of);
bool LeastAllocatedSpread(const Cluster& c, std::span<const BundleDemand> bundles,
                          std::span<const int> pinned, Capacity cap, std::vector<int>* node_of);

// A lower bound on the nodes any placement needs: per resource, the demand
// over the largest amount any one node offers.
int PackLowerBound(const Cluster& c, std::span<const BundleDemand> bundles, Capacity cap);

// PACK and SPREAD of more than one bundle: greedy first, then the depth-first
// search for the optimum (solver_search.cc).
SolveResult SolvePack(const Cluster& c, const SolveRequest& r);
SolveResult SolveSpread(const Cluster& c, const SolveRequest& r);

}  // namespace berth::placement
