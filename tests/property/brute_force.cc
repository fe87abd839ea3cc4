#include "tests/property/brute_force.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <string_view>

namespace berth::brute_force {
namespace {

constexpr std::string_view kGpuName = "GPU";

// Expands GPU asks into pieces: a whole ask of k is k pieces of one device.
// Since no device has more than kOne free, a piece of kOne only fits a fully
// free device, and two pieces of kOne never share one: exactly "k distinct
// whole devices".
std::vector<Units> Pieces(const std::vector<Units>& asks) {
  std::vector<Units> pieces;
  for (Units a : asks) {
    if (a <= 0) continue;
    if (a >= kOne) {
      if (a % kOne != 0) std::abort();  // not a valid ask; the engine refuses it
      for (Units k = 0; k < a / kOne; ++k) pieces.push_back(kOne);
    } else {
      pieces.push_back(a);
    }
  }
  std::sort(pieces.begin(), pieces.end(), std::greater<>());
  return pieces;
}

class DevicePacker {
 public:
  DevicePacker(const std::vector<Units>& devices, std::vector<Units> pieces, bool symmetry,
               long limit, long* steps, bool* gave_up)
      : init_(devices),
        rem_(devices),
        pieces_(std::move(pieces)),
        symmetry_(symmetry),
        limit_(limit),
        steps_(steps),
        gave_up_(gave_up) {}

  bool Run() { return Place(0); }

 private:
  // Device d is untouched (nothing of this node's asks on it yet) and an
  // earlier untouched device started with the same free share: trying d too
  // would only repeat that branch.
  bool RedundantUntouched(size_t d) const {
    if (rem_[d] != init_[d]) return false;
    for (size_t e = 0; e < d; ++e) {
      if (rem_[e] == init_[e] && init_[e] == init_[d]) return true;
    }
    return false;
  }

  bool Place(size_t i) {
    if (i == pieces_.size()) return true;
    if (++*steps_ > limit_) {
      *gave_up_ = true;
      return false;
    }
    const Units p = pieces_[i];
    for (size_t d = 0; d < rem_.size(); ++d) {
      if (rem_[d] < p) continue;
      if (symmetry_ && RedundantUntouched(d)) continue;
      rem_[d] -= p;
      bool ok = Place(i + 1);
      rem_[d] += p;
      if (ok) return true;
      if (*gave_up_) return false;
    }
    return false;
  }

  std::vector<Units> init_;
  std::vector<Units> rem_;
  std::vector<Units> pieces_;
  bool symmetry_;
  long limit_;
  long* steps_;
  bool* gave_up_;
};

class Search {
 public:
  Search(const Problem& p, Goal goal, const Options& o) : p_(p), goal_(goal), o_(o) {
    const int n_nodes = static_cast<int>(p.nodes.size());
    const int n_bundles = static_cast<int>(p.bundles.size());
    std::map<std::string, int> rid;
    auto intern = [&](const std::string& name) {
      auto [it, inserted] = rid.emplace(name, static_cast<int>(rid.size()));
      return it->second;
    };
    for (const Bundle& b : p.bundles) {
      for (const auto& [name, u] : b.scalars) intern(name);
    }
    // Only resources some bundle asks for matter.
    rem_.assign(n_nodes, std::vector<Units>(rid.size(), 0));
    for (int n = 0; n < n_nodes; ++n) {
      for (const auto& [name, u] : p.nodes[n].scalars) {
        auto it = rid.find(name);
        if (it != rid.end()) rem_[n][it->second] = u;
      }
    }
    // Bundle order: the hardest first (most GPU, then largest asks), only to
    // find answers sooner; the enumeration is complete in any order.
    order_.resize(n_bundles);
    for (int b = 0; b < n_bundles; ++b) order_[b] = b;
    auto weight = [&](int b) {
      Units w = 0;
      for (const auto& [name, u] : p.bundles[b].scalars) w = std::max(w, u);
      return w;
    };
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) {
      if (p.bundles[a].gpu != p.bundles[b].gpu) return p.bundles[a].gpu > p.bundles[b].gpu;
      return weight(a) > weight(b);
    });
    for (int b : order_) {
      std::vector<std::pair<int, Units>> need;
      for (const auto& [name, u] : p.bundles[b].scalars) {
        if (u > 0) need.push_back({rid.at(name), u});
      }
      need_.push_back(std::move(need));
      gpu_.push_back(p.bundles[b].gpu);
    }
    pinned_.assign(n_nodes, false);
    for (int n : p.pinned) pinned_[n] = true;
    pinned_count_ = 0;
    for (bool b : pinned_) pinned_count_ += b;
    // Interchangeable nodes: same capacity for everything asked, same
    // multiset of device shares, neither pinned.
    sorted_devices_.resize(n_nodes);
    for (int n = 0; n < n_nodes; ++n) {
      sorted_devices_[n] = p.nodes[n].devices;
      std::sort(sorted_devices_[n].begin(), sorted_devices_[n].end());
    }
    twins_before_.resize(n_nodes);
    for (int n = 0; n < n_nodes; ++n) {
      if (pinned_[n]) continue;
      for (int m = 0; m < n; ++m) {
        if (!pinned_[m] && rem_[m] == rem_[n] && sorted_devices_[m] == sorted_devices_[n]) {
          twins_before_[n].push_back(m);
        }
      }
    }
    count_.assign(n_nodes, 0);
    asks_.assign(n_nodes, {});
    at_.assign(n_bundles, -1);
    distinct_ = pinned_count_;
    best_ = goal_ == Goal::kFewestNodes ? INT_MAX : -1;
    int non_pinned = n_nodes - pinned_count_;
    lower_ = std::max(pinned_count_, n_bundles > 0 ? 1 : 0);
    upper_ = pinned_count_ + std::min(n_bundles, non_pinned);
  }

  Answer Run() {
    Answer a;
    Dfs(0);
    a.complete = !gave_up_;
    a.steps = steps_;
    a.feasible = found_;
    if (found_) {
      a.distinct = best_;
      a.witness.assign(p_.bundles.size(), -1);
      for (size_t k = 0; k < order_.size(); ++k) a.witness[order_[k]] = best_at_[k];
    }
    // A complete search that found something is a proof of feasibility even
    // if it stopped early; only "infeasible" and optimality need completion.
    if (found_ && goal_ == Goal::kFeasible) a.complete = true;
    return a;
  }

 private:
  bool Done() const {
    if (gave_up_) return true;
    if (!found_) return false;
    switch (goal_) {
      case Goal::kFeasible:
        return true;
      case Goal::kFewestNodes:
        return best_ <= lower_;
      case Goal::kMostNodes:
        return best_ >= upper_;
    }
    return false;
  }

  bool GpuFits(int n) {
    std::vector<Units> key = sorted_devices_[n];
    key.push_back(-1);
    std::vector<Units> asks = asks_[n];
    std::sort(asks.begin(), asks.end());
    key.insert(key.end(), asks.begin(), asks.end());
    auto it = gpu_cache_.find(key);
    if (it != gpu_cache_.end()) return it->second;
    std::vector<Units> pieces = Pieces(asks_[n]);
    Units sum = 0, free = 0;
    for (Units x : pieces) sum += x;
    for (Units x : p_.nodes[n].devices) free += x;
    bool ok;
    if (sum > free) {
      ok = false;
    } else {
      bool gave_up = false;
      DevicePacker packer(p_.nodes[n].devices, std::move(pieces), o_.symmetry, o_.max_steps,
                          &steps_, &gave_up);
      ok = packer.Run();
      if (gave_up) {
        gave_up_ = true;
        return false;
      }
    }
    gpu_cache_.emplace(std::move(key), ok);
    return ok;
  }

  bool Allowed(size_t k, int n) const {
    switch (p_.strategy) {
      case Strategy::kStrictSpread:
        if (pinned_[n] || count_[n] > 0) return false;
        break;
      case Strategy::kStrictPack:
        if (k > 0) return n == at_[0];
        if (pinned_count_ > 0 && !pinned_[n]) return false;
        break;
      default:
        break;
    }
    if (o_.symmetry && count_[n] == 0) {
      for (int m : twins_before_[n]) {
        if (count_[m] == 0) return false;
      }
    }
    return true;
  }

  void Dfs(size_t k) {
    if (Done()) return;
    if (++steps_ > o_.max_steps) {
      gave_up_ = true;
      return;
    }
    const int remaining = static_cast<int>(order_.size() - k);
    if (found_ && goal_ == Goal::kFewestNodes && distinct_ >= best_) return;
    if (found_ && goal_ == Goal::kMostNodes && distinct_ + remaining <= best_) return;
    if (remaining == 0) {
      found_ = true;
      best_ = distinct_;
      best_at_ = at_;
      return;
    }
    const int n_nodes = static_cast<int>(p_.nodes.size());
    // Two passes: nodes the group uses first (fewest) or fresh ones first
    // (most); only the order of the enumeration changes.
    for (int pass = 0; pass < 2; ++pass) {
      for (int n = 0; n < n_nodes; ++n) {
        bool used = count_[n] > 0 || pinned_[n];
        bool first_pass = goal_ == Goal::kMostNodes ? !used : used;
        if (first_pass != (pass == 0)) continue;
        if (!Allowed(k, n)) continue;
        bool fits = true;
        for (const auto& [r, u] : need_[k]) {
          if (rem_[n][r] < u) {
            fits = false;
            break;
          }
        }
        if (!fits) continue;
        if (gpu_[k] > 0) {
          asks_[n].push_back(gpu_[k]);
          bool ok = GpuFits(n);
          if (!ok) {
            asks_[n].pop_back();
            if (gave_up_) return;
            continue;
          }
        }
        for (const auto& [r, u] : need_[k]) rem_[n][r] -= u;
        bool opens = count_[n] == 0 && !pinned_[n];
        ++count_[n];
        if (opens) ++distinct_;
        at_[k] = n;
        Dfs(k + 1);
        at_[k] = -1;
        if (opens) --distinct_;
        --count_[n];
        for (const auto& [r, u] : need_[k]) rem_[n][r] += u;
        if (gpu_[k] > 0) asks_[n].pop_back();
        if (Done()) return;
      }
    }
  }

  const Problem& p_;
  Goal goal_;
  Options o_;
  std::vector<int> order_;
  std::vector<std::vector<std::pair<int, Units>>> need_;  // by search position
  std::vector<Units> gpu_;                                // by search position
  std::vector<std::vector<Units>> rem_;
  std::vector<std::vector<Units>> sorted_devices_;
  std::vector<bool> pinned_;
  int pinned_count_ = 0;
  std::vector<std::vector<int>> twins_before_;
  std::vector<int> count_;
  std::vector<std::vector<Units>> asks_;
  std::vector<int> at_;  // by search position
  std::map<std::vector<Units>, bool> gpu_cache_;
  int distinct_ = 0;
  int lower_ = 0;
  int upper_ = 0;
  bool found_ = false;
  int best_ = 0;
  std::vector<int> best_at_;
  long steps_ = 0;
  bool gave_up_ = false;
};

}  // namespace

Bundle FromSpec(const ResourceSet& spec) {
  Bundle b;
  for (const auto& [name, q] : spec.items()) {
    if (name == kGpuName) {
      b.gpu = q.units();
    } else if (!q.IsZero()) {
      b.scalars[name] = q.units();
    }
  }
  return b;
}

Node FreeOf(const NodeView& view) {
  Node n;
  n.name = view.name;
  for (const auto& [name, q] : view.available.items()) {
    if (name != kGpuName && !q.IsZero()) n.scalars[name] = q.units();
  }
  for (const DeviceView& d : view.gpus) n.devices.push_back(d.free.units());
  return n;
}

Node TotalOf(const NodeView& view) {
  Node n;
  n.name = view.name;
  for (const auto& [name, q] : view.total.items()) {
    if (name != kGpuName && !q.IsZero()) n.scalars[name] = q.units();
  }
  n.devices.assign(static_cast<size_t>(view.total.Get(kGpuName).WholePart()), kOne);
  return n;
}

bool GpuAsksFit(const std::vector<Units>& devices, const std::vector<Units>& asks, bool symmetry,
                long limit, long* steps, bool* gave_up) {
  std::vector<Units> pieces = Pieces(asks);
  Units sum = 0, free = 0;
  for (Units x : pieces) sum += x;
  for (Units x : devices) free += x;
  if (sum > free) return false;
  DevicePacker packer(devices, std::move(pieces), symmetry, limit, steps, gave_up);
  return packer.Run();
}

bool FitsTogether(const Node& node, const std::vector<Bundle>& bundles, bool* gave_up) {
  std::map<std::string, Units> need;
  std::vector<Units> asks;
  for (const Bundle& b : bundles) {
    for (const auto& [name, u] : b.scalars) need[name] += u;
    if (b.gpu > 0) asks.push_back(b.gpu);
  }
  for (const auto& [name, u] : need) {
    auto it = node.scalars.find(name);
    Units have = it == node.scalars.end() ? 0 : it->second;
    if (have < u) return false;
  }
  if (asks.empty()) return true;
  long steps = 0;
  bool local_gave_up = false;
  bool ok = GpuAsksFit(node.devices, asks, true, 50'000'000, &steps, &local_gave_up);
  if (gave_up) *gave_up = local_gave_up;
  return ok;
}

Answer Solve(const Problem& problem, Goal goal, const Options& options) {
  Search s(problem, goal, options);
  return s.Run();
}

int DistinctNodes(const Problem& problem, const std::vector<int>& node_of) {
  std::vector<int> all(node_of.begin(), node_of.end());
  all.insert(all.end(), problem.pinned.begin(), problem.pinned.end());
  std::sort(all.begin(), all.end());
  return static_cast<int>(std::unique(all.begin(), all.end()) - all.begin());
}

bool IsValid(const Problem& problem, const std::vector<int>& node_of) {
  const int n_nodes = static_cast<int>(problem.nodes.size());
  if (node_of.size() != problem.bundles.size()) return false;
  std::vector<std::vector<Bundle>> on(n_nodes);
  for (size_t b = 0; b < node_of.size(); ++b) {
    if (node_of[b] < 0 || node_of[b] >= n_nodes) return false;
    on[node_of[b]].push_back(problem.bundles[b]);
  }
  std::vector<bool> pinned(n_nodes, false);
  for (int n : problem.pinned) pinned[n] = true;
  for (int n = 0; n < n_nodes; ++n) {
    if (on[n].empty()) continue;
    if (!FitsTogether(problem.nodes[n], on[n])) return false;
    if (problem.strategy == Strategy::kStrictSpread && (on[n].size() > 1 || pinned[n])) {
      return false;
    }
  }
  if (problem.strategy == Strategy::kStrictPack && !node_of.empty()) {
    for (int n : node_of) {
      if (n != node_of[0]) return false;
    }
    if (!problem.pinned.empty() && !pinned[node_of[0]]) return false;
  }
  return true;
}

}  // namespace berth::brute_force
