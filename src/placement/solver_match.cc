// The placement search's matching: bundles onto distinct nodes (Kuhn's augmenting paths).

#include <algorithm>
#include <vector>

#include "placement/solver.h"
#include "placement/solver_internal.h"

namespace berth::placement {
namespace {

// Kuhn's augmenting-path matching. lists[b]: nodes bundle b may use, in
// preference order. Returns the node of each bundle, -1 when unmatched.
class Matcher {
 public:
  Matcher(const std::vector<std::vector<int>>& lists, size_t node_count)
      : lists_(lists), owner_(node_count, -1), seen_(node_count, 0) {}

  std::vector<int> Run(const std::vector<int>& order) {
    std::vector<int> of(lists_.size(), -1);
    for (int b : order) {
      // Take the best free node directly when there is one; augment (move
      // earlier bundles) only when there is not, so that uncontended
      // bundles keep their best-fitting nodes in order.
      bool direct = false;
      for (int n : lists_[b]) {
        if (owner_[n] < 0) {
          owner_[n] = b;
          direct = true;
          break;
        }
      }
      if (direct) continue;
      ++stamp_;
      Augment(b);
    }
    for (size_t n = 0; n < owner_.size(); ++n) {
      if (owner_[n] >= 0) of[owner_[n]] = static_cast<int>(n);
    }
    return of;
  }

 private:
  bool Augment(int b) {
    // NOLINTNEXTLINE(readability-use-anyofallof): the loop marks nodes as it goes; not a predicate
    for (int n : lists_[b]) {
      if (seen_[n] == stamp_) continue;
      seen_[n] = stamp_;
      if (owner_[n] < 0 || Augment(owner_[n])) {
        owner_[n] = b;
        return true;
      }
    }
    return false;
  }

  const std::vector<std::vector<int>>& lists_;
  std::vector<int> owner_;
  std::vector<int> seen_;
  int stamp_ = 0;
};

// For each bundle, the best-fitting `keep` nodes that hold it alone. Keeping
// B per bundle loses no matching: a bundle matched outside its list can always
// move to an unused node of its list (B nodes, at most B-1 taken by others).
std::vector<std::vector<int>> CandidateLists(const Cluster& c,
                                             std::span<const BundleDemand> bundles,
                                             std::span<const int> nodes, Capacity cap,
                                             size_t keep) {
  std::vector<std::vector<int>> lists(bundles.size());
  std::vector<int> shape_of(bundles.size(), -1);
  for (size_t b = 0; b < bundles.size(); ++b) {
    for (size_t p = 0; p < b; ++p) {
      if (bundles[p] == bundles[b]) {
        shape_of[b] = static_cast<int>(p);
        break;
      }
    }
    if (shape_of[b] >= 0) {
      lists[b] = lists[shape_of[b]];
      continue;
    }
    std::vector<Scored> fit;
    for (int n : nodes) {
      if (c.Fits(n, bundles[b], cap)) fit.push_back({c.Score(n, bundles[b], cap), n});
    }
    size_t k = std::min(keep, fit.size());
    std::partial_sort(fit.begin(), fit.begin() + static_cast<std::ptrdiff_t>(k), fit.end());
    for (size_t i = 0; i < k; ++i) lists[b].push_back(fit[i].node);
  }
  return lists;
}

}  // namespace

std::vector<int> MatchDistinct(const Cluster& c, std::span<const BundleDemand> bundles,
                               std::span<const int> nodes, Capacity cap) {
  auto lists = CandidateLists(c, bundles, nodes, cap, bundles.size());
  Matcher m(lists, c.nodes().size());
  return m.Run(ScarceFirstOrder(bundles));
}

int MaxDistinctNodes(const Cluster& c, std::span<const BundleDemand> bundles,
                     std::span<const int> excluded, Capacity capacity) {
  std::vector<int> of = MatchDistinct(c, bundles, LiveNodes(c, excluded, bundles.size()), capacity);
  return static_cast<int>(std::count_if(of.begin(), of.end(), [](int n) { return n >= 0; }));
}

}  // namespace berth::placement
