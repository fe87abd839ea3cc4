#include "placement/solver.h"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

#include "placement/node_load.h"

namespace berth::placement {
namespace {

// Search budgets (steps of the depth-first search). The small one covers
// every instance of up to 8 candidate nodes and 8 bundles exhaustively (the
// property tests check this against brute force); the large one bounds the
// work on big clusters, where the greedy answer is kept if the search cannot
// improve on it in time.
constexpr long kSmallBudget = 20'000'000;
constexpr long kLargeBudget = 200'000;
// On large clusters, how many classes of unused node the search tries for one
// bundle (the best-fitting ones). Small instances try them all.
constexpr size_t kWideBranching = 8;
constexpr size_t kSmallInstanceNodes = 16;

// Negative when a should be placed before b: more GPU first, then custom
// resources, memory and CPU, larger first (Ray's SortRequiredResources, but
// stable: equal bundles keep their order).
int CompareScarce(const BundleDemand& a, const BundleDemand& b) {
  if (a.gpu != b.gpu) return a.gpu > b.gpu ? -1 : 1;
  auto ranked = [](const BundleDemand& d) {
    std::vector<std::pair<int, Units>> v;
    for (const auto& [rid, u] : d.scalars) v.push_back({ScarcityRank(rid), u});
    std::sort(v.begin(), v.end());
    return v;
  };
  auto ra = ranked(a);
  auto rb = ranked(b);
  size_t i = 0;
  for (; i < ra.size() && i < rb.size(); ++i) {
    if (ra[i].first != rb[i].first) return ra[i].first < rb[i].first ? -1 : 1;
    if (ra[i].second != rb[i].second) return ra[i].second > rb[i].second ? -1 : 1;
  }
  if (ra.size() != rb.size()) return ra.size() > rb.size() ? -1 : 1;
  return 0;
}

std::vector<int> ScarceFirstOrder(std::span<const BundleDemand> bundles) {
  std::vector<int> order(bundles.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return CompareScarce(bundles[a], bundles[b]) < 0; });
  return order;
}

// The nodes worth looking at for a request of `bundles` bundles: every class
// of identical nodes contributes at most that many (see Cluster::Candidates).
std::vector<int> LiveNodes(const Cluster& c, std::span<const int> excluded, size_t bundles) {
  return c.Candidates(excluded, std::max<size_t>(bundles, 1));
}

struct Scored {
  double score;
  int node;
  bool operator<(const Scored& o) const {
    return score != o.score ? score < o.score : node < o.node;
  }
};

// The best-fitting node among `nodes` for one bundle, or -1.
int BestNode(const Cluster& c, std::span<const int> nodes, const BundleDemand& d, Capacity cap) {
  Scored best{std::numeric_limits<double>::infinity(), -1};
  for (int n : nodes) {
    if (!c.Fits(n, d, cap)) continue;
    Scored s{c.Score(n, d, cap), n};
    if (best.node < 0 || s < best) best = s;
  }
  return best.node;
}

int BestSingleNode(const Cluster& c, std::span<const int> nodes,
                   std::span<const BundleDemand> bundles, Capacity cap) {
  Scored best{std::numeric_limits<double>::infinity(), -1};
  for (int n : nodes) {
    NodeLoad load(c, n, cap);
    bool ok = true;
    for (size_t b = 0; b < bundles.size() && ok; ++b) {
      ok = load.Fits(bundles[b]);
      if (ok) load.Add(bundles[b], static_cast<int>(b));
    }
    if (!ok) continue;
    // Score the node by what is left once everything is on it.
    BundleDemand none;
    for (int rid = 0; rid < c.resources().size(); ++rid) {
      if (rid != kGpuId) none.scalars.push_back({rid, 0});
    }
    Scored s{load.ScoreWith(none), n};
    if (best.node < 0 || s < best) best = s;
  }
  return best.node;
}

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
    std::partial_sort(fit.begin(), fit.begin() + static_cast<long>(k), fit.end());
    for (size_t i = 0; i < k; ++i) lists[b].push_back(fit[i].node);
  }
  return lists;
}

std::vector<int> MatchDistinct(const Cluster& c, std::span<const BundleDemand> bundles,
                               std::span<const int> nodes, Capacity cap) {
  auto lists = CandidateLists(c, bundles, nodes, cap, bundles.size());
  Matcher m(lists, c.nodes().size());
  return m.Run(ScarceFirstOrder(bundles));
}

// Depth-first search for a placement of `bundles` whose number of distinct
// nodes (pinned ones included) is at most `max_distinct` (PACK) or at least
// `min_distinct` (SPREAD).
class Search {
 public:
  Search(const Cluster& c, std::span<const BundleDemand> bundles, std::span<const int> pinned,
         Capacity cap, Strategy strategy, long budget)
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
      for (int rid = 0; rid < c_.resources().size(); ++rid) key.push_back(c_.Have(n, rid, cap_));
      std::vector<Units> dev = DeviceCapacity(node, cap_);
      std::sort(dev.begin(), dev.end());
      key.push_back(-1);
      key.insert(key.end(), dev.begin(), dev.end());
      auto [it, inserted] = class_of_key_.emplace(key, static_cast<int>(class_members_.size()));
      cls = it->second;
      if (inserted) {
        class_members_.push_back({});
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
    std::partial_sort(options.begin(), options.begin() + static_cast<long>(keep), options.end());
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
  long budget_;
  long steps_ = 0;
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

int DistinctCount(const std::vector<int>& node_of, std::span<const int> pinned) {
  std::vector<int> all(node_of.begin(), node_of.end());
  all.insert(all.end(), pinned.begin(), pinned.end());
  std::sort(all.begin(), all.end());
  return static_cast<int>(std::unique(all.begin(), all.end()) - all.begin());
}

// Greedy PACK: fill nodes already used, then open the node that takes the
// most of what is left (best fit among equals), until everything is placed.
bool GreedyPack(const Cluster& c, std::span<const BundleDemand> bundles,
                std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<int> order = ScarceFirstOrder(bundles);
  std::vector<int> nodes = LiveNodes(c, {}, bundles.size());
  std::vector<NodeLoad> used;
  for (int n : pinned) used.emplace_back(c, n, cap);
  node_of->assign(bundles.size(), -1);
  std::vector<int> left = order;
  auto fill = [&](NodeLoad& load) {
    std::vector<int> rest;
    for (int b : left) {
      if (load.Fits(bundles[b])) {
        load.Add(bundles[b], b);
        (*node_of)[b] = load.node();
      } else {
        rest.push_back(b);
      }
    }
    left = std::move(rest);
  };
  for (NodeLoad& load : used) fill(load);
  std::vector<bool> is_used(c.nodes().size(), false);
  for (int n : pinned) is_used[n] = true;
  while (!left.empty()) {
    int best = -1;
    size_t best_count = 0;
    double best_score = 0;
    for (int n : nodes) {
      if (is_used[n]) continue;
      NodeLoad trial(c, n, cap);
      size_t count = 0;
      for (int b : left) {
        if (trial.Fits(bundles[b])) {
          trial.Add(bundles[b], b);
          ++count;
        }
      }
      if (count == 0) continue;
      double score = trial.ScoreWith(BundleDemand{});
      if (count > best_count || (count == best_count && score < best_score)) {
        best = n;
        best_count = count;
        best_score = score;
      }
    }
    if (best < 0) return false;
    is_used[best] = true;
    used.emplace_back(c, best, cap);
    fill(used.back());
  }
  return true;
}

// Greedy SPREAD: a maximum matching onto distinct fresh nodes, then the rest
// onto the used node with the fewest of this group's bundles (best fit among
// equals).
bool GreedySpread(const Cluster& c, std::span<const BundleDemand> bundles,
                  std::span<const int> pinned, Capacity cap, std::vector<int>* node_of) {
  std::vector<int> fresh = LiveNodes(c, pinned, bundles.size());
  *node_of = MatchDistinct(c, bundles, fresh, cap);
  std::vector<NodeLoad> used;
  for (int n : pinned) used.emplace_back(c, n, cap);
  for (size_t b = 0; b < bundles.size(); ++b) {
    int n = (*node_of)[b];
    if (n < 0) continue;
    used.emplace_back(c, n, cap);
    used.back().Add(bundles[b], static_cast<int>(b));
  }
  for (int b : ScarceFirstOrder(bundles)) {
    if ((*node_of)[b] >= 0) continue;
    NodeLoad* best = nullptr;
    double best_score = 0;
    for (NodeLoad& load : used) {
      if (!load.Fits(bundles[b])) continue;
      double score = load.ScoreWith(bundles[b]);
      if (!best || load.count() < best->count() ||
          (load.count() == best->count() && score < best_score)) {
        best = &load;
        best_score = score;
      }
    }
    if (!best) return false;
    best->Add(bundles[b], b);
    (*node_of)[b] = best->node();
  }
  return true;
}

// A lower bound on the nodes any placement needs: per resource, the demand
// over the largest amount any one node offers.
int PackLowerBound(const Cluster& c, std::span<const BundleDemand> bundles, Capacity cap) {
  int bound = 1;
  std::vector<Units> need(static_cast<size_t>(c.resources().size()), 0);
  for (const BundleDemand& d : bundles) {
    for (const auto& [rid, u] : d.scalars) need[rid] += u;
    need[kGpuId] += d.gpu;
  }
  for (int rid = 0; rid < c.resources().size(); ++rid) {
    if (need[rid] == 0) continue;
    Units most = 0;
    for (int n : LiveNodes(c, {}, 1)) most = std::max(most, c.Have(n, rid, cap));
    if (most > 0) bound = std::max<Units>(bound, (need[rid] + most - 1) / most);
  }
  return bound;
}

SolveResult SolvePack(const Cluster& c, const SolveRequest& r) {
  SolveResult out;
  const int pinned = static_cast<int>(r.pinned.size());
  // One node for everything is optimal when no node is pinned; with pinned
  // nodes, everything on one of them adds no node.
  std::vector<int> all =
      pinned ? std::vector<int>(r.pinned.begin(), r.pinned.end()) : LiveNodes(c, {}, 1);
  if (int n = BestSingleNode(c, all, r.bundles, r.capacity); n >= 0) {
    out.found = true;
    out.node_of.assign(r.bundles.size(), n);
    return out;
  }
  int lower = std::max({pinned, pinned ? pinned : 2, PackLowerBound(c, r.bundles, r.capacity)});
  std::vector<int> best;
  bool have = GreedyPack(c, r.bundles, r.pinned, r.capacity, &best);
  int best_distinct = have ? DistinctCount(best, r.pinned) : std::numeric_limits<int>::max();
  if (have && best_distinct <= lower) {
    out.found = true;
    out.node_of = std::move(best);
    return out;
  }
  Search probe(c, r.bundles, r.pinned, r.capacity, Strategy::kPack, 0);
  long budget = r.bundles.size() <= 8 && probe.candidate_count() <= kSmallInstanceNodes
                    ? kSmallBudget
                    : kLargeBudget;
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
  bool have = GreedySpread(c, r.bundles, r.pinned, r.capacity, &best);
  // A maximum matching bounds the distinct nodes of any placement.
  int upper = pinned + MaxDistinctNodes(c, r.bundles, r.pinned, r.capacity);
  if (have && DistinctCount(best, r.pinned) >= upper) {
    out.found = true;
    out.node_of = std::move(best);
    return out;
  }
  Search probe(c, r.bundles, r.pinned, r.capacity, Strategy::kSpread, 0);
  long budget = r.bundles.size() <= 8 && probe.candidate_count() <= kSmallInstanceNodes
                    ? kSmallBudget
                    : kLargeBudget;
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

}  // namespace

std::vector<Units> DeviceCapacity(const NodeState& node, Capacity capacity) {
  if (capacity == Capacity::kFree) return node.device_free;
  return std::vector<Units>(node.device_free.size(), kDevice);
}

int MaxDistinctNodes(const Cluster& c, std::span<const BundleDemand> bundles,
                     std::span<const int> excluded, Capacity capacity) {
  std::vector<int> of = MatchDistinct(c, bundles, LiveNodes(c, excluded, bundles.size()), capacity);
  return static_cast<int>(std::count_if(of.begin(), of.end(), [](int n) { return n >= 0; }));
}

SolveResult Solve(const Cluster& c, const SolveRequest& r) {
  SolveResult out;
  if (r.bundles.empty()) {
    out.found = true;
    return out;
  }
  switch (r.strategy) {
    case Strategy::kStrictPack: {
      std::vector<int> nodes = r.pinned.empty()
                                   ? LiveNodes(c, {}, 1)
                                   : std::vector<int>(r.pinned.begin(), r.pinned.end());
      int n = r.bundles.size() == 1 ? BestNode(c, nodes, r.bundles[0], r.capacity)
                                    : BestSingleNode(c, nodes, r.bundles, r.capacity);
      if (n >= 0) {
        out.found = true;
        out.node_of.assign(r.bundles.size(), n);
      }
      return out;
    }
    case Strategy::kStrictSpread: {
      std::vector<int> nodes = LiveNodes(c, r.pinned, r.bundles.size());
      if (r.bundles.size() == 1) {
        int n = BestNode(c, nodes, r.bundles[0], r.capacity);
        if (n >= 0) out.node_of.assign(1, n);
      } else {
        out.node_of = MatchDistinct(c, r.bundles, nodes, r.capacity);
      }
      out.found = !out.node_of.empty() &&
                  std::none_of(out.node_of.begin(), out.node_of.end(), [](int n) { return n < 0; });
      if (!out.found) out.node_of.clear();
      return out;
    }
    case Strategy::kPack:
      if (r.bundles.size() == 1) {
        // Prefer a node the group already uses.
        int n = r.pinned.empty() ? -1 : BestNode(c, r.pinned, r.bundles[0], r.capacity);
        if (n < 0) n = BestNode(c, LiveNodes(c, {}, 1), r.bundles[0], r.capacity);
        if (n >= 0) {
          out.found = true;
          out.node_of.assign(1, n);
        }
        return out;
      }
      return SolvePack(c, r);
    case Strategy::kSpread:
      if (r.bundles.size() == 1) {
        // Prefer a node the group does not use yet.
        int n = BestNode(c, LiveNodes(c, r.pinned, 1), r.bundles[0], r.capacity);
        if (n < 0 && !r.pinned.empty()) n = BestNode(c, r.pinned, r.bundles[0], r.capacity);
        if (n >= 0) {
          out.found = true;
          out.node_of.assign(1, n);
        }
        return out;
      }
      return SolveSpread(c, r);
  }
  return out;
}

}  // namespace berth::placement
