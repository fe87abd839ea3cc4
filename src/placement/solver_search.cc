// The placement search's exact part: depth-first search for the optimum PACK or SPREAD.

#include <algorithm>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "placement/node_load.h"
#include "placement/solver.h"
#include "placement/solver_internal.h"

namespace berth::placement {
namespace {

// Search budgets (steps of the depth-first search). The small one covers
// every instance of up to 8 candidate nodes and 8 bundles exhaustively (the
// property tests check this against brute force); the large one bounds the
// work on big clusters, where the greedy answer is kept if the search cannot
// improve on it in time.
constexpr int64_t kSmallBudget = 20'000'000;
constexpr int64_t kLargeBudget = 200'000;
// On large clusters, how many classes of unused node the search tries for one
// bundle (the best-fitting ones). Small instances try them all.
constexpr size_t kWideBranching = 8;
constexpr size_t kSmallInstanceNodes = 16;

// Depth-first search for a placement of `bundles` whose number of distinct
// nodes (pinned ones included) is at most `max_distinct` (PACK) or at least
// `min_distinct` (SPREAD).
class Search {
 public:
  Search(const Cluster& c, std::span<const BundleDemand> bundles, std::span<const int> pinned,
         Capacity cap, Strategy strategy, int64_t budget)
      : c_(c), cap_(cap), strategy_(strategy), budget_(budget) {
    order_ = ScarceFirstOrder(bundles);
    for (int b : order_) demands_.push_back(bundles[b]);
    same_as_prev_.assign(demands_.size(), false);
    for (size_t i = 1; i < demands_.size(); ++i) same_as_prev_[i] = demands_[i] == demands_[i - 1];

    // Candidates: pinned nodes (already used), then every live node that
    // holds at least one of the bundles alone.
    for (int n : pinned) AddCandidate(n, /*pinned=*/true);
    for (int n : LiveNodes(c, pinned, demands_.size())) {
      bool any = std::any_of(demands_.begin(), demands_.end(),
                             [&](const BundleDemand& d) { return c.Fits(n, d, cap); });
      if (any) AddCandidate(n, false);
    }
    small_ = candidates_.size() <= kSmallInstanceNodes;
  }

  size_t candidate_count() const { return candidates_.size(); }

  // Returns true and fills node_of (in the caller's bundle order) on success.
  bool Run(int min_distinct, int max_distinct, std::vector<int>* node_of) {
    min_distinct_ = min_distinct;
    max_distinct_ = max_distinct;
    at_.assign(demands_.size(), -1);
    if (!Place(0)) return false;
    node_of->assign(demands_.size(), -1);
    for (size_t i = 0; i < demands_.size(); ++i) {
      (*node_of)[order_[i]] = candidates_[at_[i]].node();
    }
    return true;
  }

  bool exhausted() const { return steps_ > budget_; }

 private:
  void AddCandidate(int n, bool pinned) {
    int idx = static_cast<int>(candidates_.size());
    candidates_.emplace_back(c_, n, cap_);
    const NodeState& node = c_.nodes()[n];
    int cls;
    if (pinned) {
      cls = static_cast<int>(class_members_.size());
      class_members_.push_back({idx});
      class_used_.push_back(1);
      open_rank_.push_back(static_cast<int>(opened_.size()));
      opened_.push_back(idx);
    } else {
      // Nodes with the same capacity are interchangeable in the search.
      std::vector<Units> key;
      key.reserve(c_.resources().size());
      for (int rid = 0; rid < c_.resources().size(); ++rid) key.push_back(c_.Have(n, rid, cap_));
      std::vector<Units> dev = DeviceCapacity(node, cap_);
      std::sort(dev.begin(), dev.end());
      key.push_back(-1);
      key.insert(key.end(), dev.begin(), dev.end());
      auto [it, inserted] = class_of_key_.emplace(key, static_cast<int>(class_members_.size()));
      cls = it->second;
      if (inserted) {
        class_members_.emplace_back();
        class_used_.push_back(0);
      }
      class_members_[cls].push_back(idx);
      open_rank_.push_back(-1);
    }
    class_.push_back(cls);
  }

  int distinct() const { return static_cast<int>(opened_.size()); }

  bool Place(size_t i) {
    if (i == demands_.size()) return distinct() >= min_distinct_;
    if (++steps_ > budget_) return false;
    int remaining = static_cast<int>(demands_.size() - i);
    if (distinct() + remaining < min_distinct_) return false;
    const BundleDemand& d = demands_[i];
    int min_rank = same_as_prev_[i] ? open_rank_[at_[i - 1]] : -1;

    std::vector<int> used;
    for (int cand : opened_) {
      if (open_rank_[cand] >= min_rank && candidates_[cand].Fits(d)) used.push_back(cand);
    }
    std::vector<int> fresh;
    if (distinct() < max_distinct_) fresh = FreshOptions(d);

    const bool spread = strategy_ == Strategy::kSpread;
    const std::vector<int>& first = spread ? fresh : used;
    const std::vector<int>& second = spread ? used : fresh;
    for (const std::vector<int>* list : {&first, &second}) {
      for (int cand : *list) {
        if (Try(i, cand, d)) return true;
        if (steps_ > budget_) return false;
      }
    }
    return false;
  }

  // One unused node per class, best fit first.
  std::vector<int> FreshOptions(const BundleDemand& d) const {
    std::vector<Scored> options;
    for (size_t cls = 0; cls < class_members_.size(); ++cls) {
      if (class_used_[cls] >= static_cast<int>(class_members_[cls].size())) continue;
      int cand = class_members_[cls][class_used_[cls]];
      if (!candidates_[cand].Fits(d)) continue;
      options.push_back({candidates_[cand].ScoreWith(d), cand});
    }
    size_t keep = small_ ? options.size() : std::min(options.size(), kWideBranching);
    std::partial_sort(options.begin(), options.begin() + static_cast<std::ptrdiff_t>(keep),
                      options.end());
    std::vector<int> out;
    for (size_t k = 0; k < keep; ++k) out.push_back(options[k].node);
    return out;
  }

  bool Try(size_t i, int cand, const BundleDemand& d) {
    bool opens = open_rank_[cand] < 0;
    if (opens) {
      open_rank_[cand] = distinct();
      opened_.push_back(cand);
      ++class_used_[class_[cand]];
    }
    candidates_[cand].Add(d, static_cast<int>(i));
    at_[i] = cand;
    if (Place(i + 1)) return true;
    candidates_[cand].Pop(d);
    if (opens) {
      --class_used_[class_[cand]];
      opened_.pop_back();
      open_rank_[cand] = -1;
    }
    return false;
  }

  const Cluster& c_;
  Capacity cap_;
  Strategy strategy_;
  int64_t budget_;
  int64_t steps_ = 0;
  bool small_ = true;
  int min_distinct_ = 0;
  int max_distinct_ = 0;
  std::vector<int> order_;
  std::vector<BundleDemand> demands_;
  std::vector<bool> same_as_prev_;
  std::vector<NodeLoad> candidates_;
  std::vector<int> class_;
  std::vector<int> open_rank_;
  std::vector<int> opened_;
  std::map<std::vector<Units>, int> class_of_key_;
  std::vector<std::vector<int>> class_members_;
  std::vector<int> class_used_;
  std::vector<int> at_;
};

// Search steps allowed: a complete search for small instances (few bundles,
// few candidate nodes), a bounded one otherwise.
int64_t SearchBudget(const Cluster& c, const SolveRequest& r, Strategy strategy) {
  Search probe(c, r.bundles, r.pinned, r.capacity, strategy, 0);
  return r.bundles.size() <= 8 && probe.candidate_count() <= kSmallInstanceNodes ? kSmallBudget
                                                                                 : kLargeBudget;
}

}  // namespace

SolveResult SolvePack(const Cluster& c, const SolveRequest& r) {
  SolveResult out;
  const int pinned = static_cast<int>(r.pinned.size());
  // One node for everything is optimal when no node is pinned; with pinned
  // nodes, everything on one of them adds no node.
  std::vector<int> all =
      pinned != 0 ? std::vector<int>(r.pinned.begin(), r.pinned.end()) : LiveNodes(c, {}, 1);
  if (int n = BestSingleNode(c, all, r.bundles, r.capacity); n >= 0) {
    out.found = true;
    out.node_of.assign(r.bundles.size(), n);
    return out;
  }
  int lower =
      std::max({pinned, pinned != 0 ? pinned : 2, PackLowerBound(c, r.bundles, r.capacity)});
  std::vector<int> best;
  bool have = GreedyPack(c, r.bundles, r.pinned, r.capacity, &best) ||
              LeastAllocatedPack(c, r.bundles, r.pinned, r.capacity, &best);
  int best_distinct = have ? DistinctCount(best, r.pinned) : std::numeric_limits<int>::max();
  if (have && best_distinct <= lower) {
    out.found = true;
    out.node_of = std::move(best);
    return out;
  }
  const int64_t budget = SearchBudget(c, r, Strategy::kPack);
  if (!have) {
    Search s(c, r.bundles, r.pinned, r.capacity, Strategy::kPack, budget);
    if (!s.Run(0, std::numeric_limits<int>::max(), &best)) {
      out.budget_exhausted = s.exhausted();
      return out;
    }
    have = true;
    best_distinct = DistinctCount(best, r.pinned);
  }
  for (int k = lower; k < best_distinct; ++k) {
    Search s(c, r.bundles, r.pinned, r.capacity, Strategy::kPack, budget);
    std::vector<int> found;
    if (s.Run(0, k, &found)) {
      best = std::move(found);
      break;
    }
    if (s.exhausted()) {
      out.budget_exhausted = true;
      break;
    }
  }
  out.found = true;
  out.node_of = std::move(best);
  return out;
}

SolveResult SolveSpread(const Cluster& c, const SolveRequest& r) {
  SolveResult out;
  const int pinned = static_cast<int>(r.pinned.size());
  std::vector<int> best;
  bool have = GreedySpread(c, r.bundles, r.pinned, r.capacity, &best) ||
              LeastAllocatedSpread(c, r.bundles, r.pinned, r.capacity, &best);
  // A maximum matching bounds the distinct nodes of any placement.
  int upper = pinned + MaxDistinctNodes(c, r.bundles, r.pinned, r.capacity);
  if (have && DistinctCount(best, r.pinned) >= upper) {
    out.found = true;
    out.node_of = std::move(best);
    return out;
  }
  const int64_t budget = SearchBudget(c, r, Strategy::kSpread);
  if (!have) {
    // Settle feasibility first, the way PACK does (fill used nodes first,
    // which finds a placement far sooner than insisting on distinct nodes),
    // so that a budget spent on spreading never turns "fits" into "no".
    have = GreedyPack(c, r.bundles, r.pinned, r.capacity, &best);
    if (!have) {
      Search s(c, r.bundles, r.pinned, r.capacity, Strategy::kPack, budget);
      have = s.Run(0, std::numeric_limits<int>::max(), &best);
      if (!have) {
        out.budget_exhausted = s.exhausted();
        return out;
      }
    }
  }
  int floor_k = DistinctCount(best, r.pinned) + 1;
  for (int k = upper; k >= floor_k; --k) {
    Search s(c, r.bundles, r.pinned, r.capacity, Strategy::kSpread, budget);
    std::vector<int> found;
    if (s.Run(k, std::numeric_limits<int>::max(), &found)) {
      best = std::move(found);
      have = true;
      break;
    }
    if (s.exhausted()) {
      out.budget_exhausted = true;
      break;
    }
  }
  out.found = have;
  if (have) out.node_of = std::move(best);
  return out;
}

}  // namespace berth::placement
