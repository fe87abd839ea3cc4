#include <algorithm>
#include <cassert>
#include <set>
#include <unordered_map>

#include "berth/placement.h"
#include "placement/cluster.h"
#include "placement/device_fit.h"
#include "placement/group.h"
#include "placement/solver.h"
#include "placement/topology.h"

namespace berth {

using placement::BundleDemand;
using placement::Capacity;
using placement::GroupRecord;
using placement::kDevice;
using placement::kGpuId;
using placement::NodeState;
using placement::Units;

namespace {
constexpr int64_t kMaxDevicesPerNode = 1024;
}

const char* StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kPack:
      return "PACK";
    case Strategy::kSpread:
      return "SPREAD";
    case Strategy::kStrictPack:
      return "STRICT_PACK";
    case Strategy::kStrictSpread:
      return "STRICT_SPREAD";
  }
  return "?";
}

Result<Strategy> ParseStrategy(std::string_view text, std::string_view field) {
  for (Strategy s :
       {Strategy::kPack, Strategy::kSpread, Strategy::kStrictPack, Strategy::kStrictSpread}) {
    if (text == StrategyName(s)) return s;
  }
  return InvalidSpec(std::string(field) + ": unknown strategy \"" + std::string(text) +
                     "\"; allowed: PACK, SPREAD, STRICT_PACK, STRICT_SPREAD");
}

const char* GroupStateName(GroupState s) {
  switch (s) {
    case GroupState::kCreated:
      return "CREATED";
    case GroupState::kPending:
      return "PENDING";
    case GroupState::kInfeasible:
      return "INFEASIBLE";
    case GroupState::kRescheduling:
      return "RESCHEDULING";
    case GroupState::kRemoved:
      return "REMOVED";
  }
  return "?";
}

const char* TopologyModeName(Topology::Mode m) {
  return m == Topology::Mode::kRequire ? "require" : "prefer";
}

Result<Topology::Mode> ParseTopologyMode(std::string_view text, std::string_view field) {
  if (text == "prefer") return Topology::Mode::kPrefer;
  if (text == "require") return Topology::Mode::kRequire;
  return InvalidSpec(std::string(field) + ": \"" + std::string(text) +
                     "\" is not a topology mode; allowed: prefer, require");
}

const char* NodeVerdictName(NodeVerdict v) {
  switch (v) {
    case NodeVerdict::kFitsNow:
      return "fits_now";
    case NodeVerdict::kFullNow:
      return "full_now";
    case NodeVerdict::kNeverFits:
      return "never_fits";
    case NodeVerdict::kUsedByGroup:
      return "used_by_group";
  }
  return "?";
}

class PlacementEngine::Impl {
 public:
  Status AddNode(const NodeSpec& spec);
  Status RemoveNode(std::string_view name);
  Result<GroupState> CreateGroup(const GroupSpec& spec);
  Status RemoveGroup(std::string_view name);
  void PurgeRemoved();
  GroupView View(const GroupRecord& g) const;
  const GroupRecord* Find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : &groups_[it->second];
  }
  const std::vector<GroupRecord>& groups() const { return groups_; }
  const placement::Cluster& cluster() const { return cluster_; }

 private:
  // Tries to place what `g` has not placed; updates its state.
  bool TryPlace(int gid);
  void Commit(GroupRecord& g, const std::vector<int>& bundles, const std::vector<int>& node_of);
  void Release(GroupRecord& g);
  bool FitsTotals(GroupRecord& g);
  void RetryWaiting();

  placement::Cluster cluster_;
  std::vector<GroupRecord> groups_;  // creation order
  std::unordered_map<std::string, int> by_name_;
  std::set<int> waiting_;          // group ids not fully placed, creation order
  uint64_t topology_version_ = 0;  // bumped when a node is added or removed
};

Status PlacementEngine::Impl::AddNode(const NodeSpec& spec) {
  if (spec.name.empty()) return InvalidSpec("node name is empty; give every node a unique name");
  if (cluster_.Find(spec.name) >= 0) {
    return InvalidSpec("node \"" + spec.name + "\" already exists; node names must be unique");
  }
  Quantity gpu = spec.resources.Get(kGpu);
  if (!gpu.IsWhole()) {
    return InvalidSpec("node \"" + spec.name + "\": GPU " + gpu.ToString() +
                       " is not whole; a node has a whole number of GPU devices");
  }
  if (gpu.WholePart() > kMaxDevicesPerNode) {
    return InvalidSpec("node \"" + spec.name + "\": GPU " + gpu.ToString() +
                       " is above the limit of 1024 devices per node");
  }
  for (const auto& [name, q] : spec.resources.items()) cluster_.resources().Intern(name);
  NodeState node;
  node.name = spec.name;
  node.labels = spec.labels;
  node.label_class = cluster_.LabelClass(spec.labels);
  node.total.assign(static_cast<size_t>(cluster_.resources().size()), 0);
  for (const auto& [name, q] : spec.resources.items()) {
    node.total[cluster_.resources().Find(name)] = q.units();
  }
  node.free = node.total;
  node.device_free.assign(static_cast<size_t>(gpu.WholePart()), kDevice);
  node.RefreshDeviceSummary();
  cluster_.nodes().push_back(std::move(node));
  cluster_.Widen();
  int index = static_cast<int>(cluster_.nodes().size()) - 1;
  cluster_.AddAlive(index);
  cluster_.Reclassify(index);
  ++topology_version_;
  RetryWaiting();
  return Status::Ok();
}

Status PlacementEngine::Impl::RemoveNode(std::string_view name) {
  int n = cluster_.Find(name);
  if (n < 0) {
    return NotFound("node \"" + std::string(name) + "\" does not exist (or was removed already)");
  }
  cluster_.nodes()[n].alive = false;
  cluster_.Forget(n);
  cluster_.Reclassify(n);
  ++topology_version_;
  for (size_t gid = 0; gid < groups_.size(); ++gid) {
    GroupRecord& g = groups_[gid];
    if (g.state != GroupState::kCreated && g.state != GroupState::kRescheduling) continue;
    bool hit = false;
    for (size_t b = 0; b < g.node_of.size(); ++b) {
      if (g.node_of[b] != n) continue;
      // The node is gone: its capacity goes with it, nothing to give back.
      g.node_of[b] = -1;
      g.gpus[b].clear();
      g.lost.push_back(static_cast<int>(b));
      hit = true;
    }
    if (!hit) continue;
    std::sort(g.lost.begin(), g.lost.end());
    g.state = GroupState::kRescheduling;
    waiting_.insert(static_cast<int>(gid));
  }
  RetryWaiting();
  return Status::Ok();
}

Result<GroupState> PlacementEngine::Impl::CreateGroup(const GroupSpec& spec) {
  const std::string where = "group \"" + spec.name + "\"";
  if (spec.name.empty()) return InvalidSpec("group name is empty; give every group a unique name");
  if (by_name_.contains(spec.name)) {
    return InvalidSpec(where + " already exists; group names must be unique");
  }
  if (spec.bundles.empty()) {
    return InvalidSpec(where + ": bundles is empty; a group needs at least one bundle");
  }
  if (spec.topology && spec.topology->key.empty()) {
    return InvalidSpec(where +
                       ": topology.key is empty; name the node label whose values are "
                       "the domains, such as rack");
  }
  if (spec.topology ||
      std::any_of(spec.bundle_label_selector.begin(), spec.bundle_label_selector.end(),
                  [](const auto& sel) { return !sel.empty(); })) {
    cluster_.LabelsMatter();
  }
  GroupRecord g;
  g.name = spec.name;
  g.strategy = spec.strategy;
  g.topology = spec.topology;
  g.spec = spec.bundles;
  for (size_t b = 0; b < spec.bundles.size(); ++b) {
    const ResourceSet& bundle = spec.bundles[b];
    const std::string at = where + ": bundle " + std::to_string(b);
    if (bundle.AllZero()) {
      return InvalidSpec(at + " asks for nothing; give it at least one non-zero resource");
    }
    Quantity gpu = bundle.Get(kGpu);
    if (gpu >= Quantity::Whole(1) && !gpu.IsWhole()) {
      return InvalidSpec(at + ": GPU " + gpu.ToString() +
                         " is not whole; ask below 1 for a share of one device, or a whole "
                         "number of devices");
    }
  }
  if (!spec.bundle_label_selector.empty() &&
      spec.bundle_label_selector.size() != spec.bundles.size()) {
    return InvalidSpec(where + ": bundle_label_selector has " +
                       std::to_string(spec.bundle_label_selector.size()) + " entries for " +
                       std::to_string(spec.bundles.size()) +
                       " bundles; give one map per bundle ({} for none), or none at all");
  }
  std::vector<std::vector<placement::LabelTerm>> selectors(spec.bundles.size());
  for (size_t b = 0; b < spec.bundle_label_selector.size(); ++b) {
    BERTH_ASSIGN_OR_RETURN(selectors[b],
                           placement::ParseLabelSelector(
                               spec.bundle_label_selector[b],
                               where + ": bundle_label_selector[" + std::to_string(b) + "]"));
  }
  for (size_t b = 0; b < spec.bundles.size(); ++b) {
    const ResourceSet& bundle = spec.bundles[b];
    BundleDemand d;
    d.labels = std::move(selectors[b]);
    for (const auto& [name, q] : bundle.items()) {
      int rid = cluster_.resources().Intern(name);
      if (q.IsZero()) continue;
      if (rid == kGpuId) {
        d.gpu = q.units();
      } else {
        d.scalars.emplace_back(rid, q.units());
      }
    }
    std::sort(d.scalars.begin(), d.scalars.end());
    g.demands.push_back(std::move(d));
  }
  cluster_.Widen();
  g.node_of.assign(spec.bundles.size(), -1);
  g.gpus.assign(spec.bundles.size(), {});
  int gid = static_cast<int>(groups_.size());
  by_name_[g.name] = gid;
  groups_.push_back(std::move(g));
  if (!TryPlace(gid)) waiting_.insert(gid);
  return groups_[gid].state;
}

Status PlacementEngine::Impl::RemoveGroup(std::string_view name) {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) {
    return NotFound("group \"" + std::string(name) + "\" does not exist");
  }
  GroupRecord& g = groups_[it->second];
  if (g.state == GroupState::kRemoved) {
    return NotFound("group \"" + std::string(name) + "\" was removed already");
  }
  Release(g);
  g.state = GroupState::kRemoved;
  g.lost.clear();
  waiting_.erase(it->second);
  RetryWaiting();
  return Status::Ok();
}

void PlacementEngine::Impl::PurgeRemoved() {
  std::vector<GroupRecord> kept;
  std::set<int> waiting;
  by_name_.clear();
  for (size_t gid = 0; gid < groups_.size(); ++gid) {
    if (groups_[gid].state == GroupState::kRemoved) continue;
    int id = static_cast<int>(kept.size());
    if (waiting_.contains(static_cast<int>(gid))) waiting.insert(id);
    by_name_[groups_[gid].name] = id;
    kept.push_back(std::move(groups_[gid]));
  }
  groups_ = std::move(kept);
  waiting_ = std::move(waiting);
}

bool PlacementEngine::Impl::FitsTotals(GroupRecord& g) {
  if (g.totals_version != topology_version_) {
    placement::SolveRequest req;
    req.strategy = g.strategy;
    req.bundles = g.demands;
    req.capacity = Capacity::kTotal;
    const bool require = g.topology && g.topology->mode == Topology::Mode::kRequire;
    placement::SolveResult r =
        require ? placement::SolveInDomain(cluster_, req, g.topology->key, std::nullopt).solve
                : placement::Solve(cluster_, req);
    g.fits_totals = r.found;
    g.totals_budget_exhausted = r.budget_exhausted;
    g.totals_version = topology_version_;
  }
  return g.fits_totals;
}

bool PlacementEngine::Impl::TryPlace(int gid) {
  GroupRecord& g = groups_[gid];
  std::vector<int> todo = g.Unplaced();
  std::vector<int> pinned = g.PinnedNodes();
  std::vector<BundleDemand> some;  // only when part of the group is placed
  if (todo.size() != g.demands.size()) {
    for (int b : todo) some.push_back(g.demands[b]);
  }
  placement::SolveRequest req;
  req.strategy = g.strategy;
  req.bundles = todo.size() == g.demands.size() ? std::span<const BundleDemand>(g.demands)
                                                : std::span<const BundleDemand>(some);
  req.pinned = pinned;
  req.capacity = Capacity::kFree;
  placement::SolveResult r;
  std::string domain;
  bool across = false;
  if (g.topology) {
    // A group that holds bundles in a domain places the rest there.
    std::optional<std::string> only;
    if (!pinned.empty() && !g.domain.empty()) only = g.domain;
    placement::DomainResult d = placement::SolveInDomain(cluster_, req, g.topology->key, only);
    r = std::move(d.solve);
    domain = std::move(d.domain);
    if (!r.found && g.topology->mode == Topology::Mode::kPrefer) {
      r = placement::Solve(cluster_, req);
      across = r.found;
    }
  } else {
    r = placement::Solve(cluster_, req);
  }
  if (r.found) {
    Commit(g, todo, r.node_of);
    g.state = GroupState::kCreated;
    g.lost.clear();
    if (g.topology) {
      g.across_domains = across || (!pinned.empty() && g.across_domains);
      g.domain = g.across_domains ? "" : domain;
    }
    return true;
  }
  // Whether it could ever fit decides PENDING vs INFEASIBLE; a RESCHEDULING
  // group keeps its state (it still holds its surviving bundles).
  bool fits = FitsTotals(g);
  if (g.state != GroupState::kRescheduling) {
    g.state = fits ? GroupState::kPending : GroupState::kInfeasible;
  }
  return false;
}

void PlacementEngine::Impl::Commit(GroupRecord& g, const std::vector<int>& bundles,
                                   const std::vector<int>& node_of) {
  // Per node, in node order; within a node, bundles in index order, so that
  // whole devices are handed out in ascending order.
  std::vector<std::pair<int, int>> by_node;  // (node, bundle)
  for (size_t i = 0; i < bundles.size(); ++i) by_node.emplace_back(node_of[i], bundles[i]);
  std::sort(by_node.begin(), by_node.end());
  for (size_t i = 0; i < by_node.size();) {
    int n = by_node[i].first;
    size_t j = i;
    std::vector<placement::GpuAsk> asks;
    for (; j < by_node.size() && by_node[j].first == n; ++j) {
      int b = by_node[j].second;
      if (g.demands[b].gpu > 0) asks.push_back({b, g.demands[b].gpu});
    }
    NodeState& node = cluster_.nodes()[n];
    if (!asks.empty()) {
      auto shares = placement::AssignGpus(node.device_free, asks);
      assert(shares && "the solver placed GPU asks that do not pack");
      for (size_t a = 0; a < asks.size(); ++a) {
        for (const GpuShare& s : (*shares)[a]) node.device_free[s.device] -= s.fraction.units();
        g.gpus[asks[a].bundle] = std::move((*shares)[a]);
      }
      node.RefreshDeviceSummary();
    }
    for (size_t k = i; k < j; ++k) {
      int b = by_node[k].second;
      const BundleDemand& d = g.demands[b];
      for (const auto& [rid, u] : d.scalars) node.free[rid] -= u;
      node.free[kGpuId] -= d.gpu;
      g.node_of[b] = n;
    }
    cluster_.Reclassify(n);
    i = j;
  }
}

void PlacementEngine::Impl::Release(GroupRecord& g) {
  for (size_t b = 0; b < g.node_of.size(); ++b) {
    int n = g.node_of[b];
    if (n < 0) continue;
    NodeState& node = cluster_.nodes()[n];
    const BundleDemand& d = g.demands[b];
    for (const auto& [rid, u] : d.scalars) node.free[rid] += u;
    node.free[kGpuId] += d.gpu;
    for (const GpuShare& s : g.gpus[b]) node.device_free[s.device] += s.fraction.units();
    if (!g.gpus[b].empty()) node.RefreshDeviceSummary();
    cluster_.Reclassify(n);
    g.node_of[b] = -1;
    g.gpus[b].clear();
  }
}

void PlacementEngine::Impl::RetryWaiting() {
  if (waiting_.empty()) return;
  // Groups that lost bundles go first: they hold the rest of their capacity
  // and their surviving workers wait on them. Then creation order. A group
  // that does not fit never blocks a later one.
  std::vector<int> order;
  for (int gid : waiting_) {
    if (groups_[gid].state == GroupState::kRescheduling) order.push_back(gid);
  }
  for (int gid : waiting_) {
    if (groups_[gid].state != GroupState::kRescheduling) order.push_back(gid);
  }
  for (int gid : order) {
    if (TryPlace(gid)) waiting_.erase(gid);
  }
}

GroupView PlacementEngine::Impl::View(const GroupRecord& g) const {
  GroupView v;
  v.name = g.name;
  v.strategy = g.strategy;
  v.state = g.state;
  v.bundles = g.spec;
  v.domain = g.domain;
  v.across_domains = g.across_domains;
  if (g.state == GroupState::kCreated || g.state == GroupState::kRescheduling) {
    for (size_t b = 0; b < g.node_of.size(); ++b) {
      if (g.node_of[b] < 0) continue;
      v.placed.push_back({static_cast<int>(b), cluster_.nodes()[g.node_of[b]].name, g.gpus[b]});
    }
  }
  return v;
}

PlacementEngine::PlacementEngine() : impl_(std::make_unique<Impl>()) {}
PlacementEngine::~PlacementEngine() = default;
PlacementEngine::PlacementEngine(PlacementEngine&&) noexcept = default;
PlacementEngine& PlacementEngine::operator=(PlacementEngine&&) noexcept = default;

Status PlacementEngine::AddNode(const NodeSpec& node) { return impl_->AddNode(node); }
Status PlacementEngine::RemoveNode(std::string_view name) { return impl_->RemoveNode(name); }
Result<GroupState> PlacementEngine::CreateGroup(const GroupSpec& group) {
  return impl_->CreateGroup(group);
}
Status PlacementEngine::RemoveGroup(std::string_view name) { return impl_->RemoveGroup(name); }
void PlacementEngine::PurgeRemoved() { impl_->PurgeRemoved(); }
size_t PlacementEngine::group_count() const { return impl_->groups().size(); }

std::optional<GroupView> PlacementEngine::Group(std::string_view name) const {
  const GroupRecord* g = impl_->Find(name);
  if (!g) return std::nullopt;
  return impl_->View(*g);
}

std::vector<GroupView> PlacementEngine::Groups() const {
  std::vector<GroupView> out;
  out.reserve(impl_->groups().size());
  for (const GroupRecord& g : impl_->groups()) out.push_back(impl_->View(g));
  return out;
}

std::vector<NodeView> PlacementEngine::Nodes() const {
  std::vector<NodeView> out;
  const placement::Cluster& c = impl_->cluster();
  for (const NodeState& n : c.nodes()) {
    if (!n.alive) continue;
    NodeView v;
    v.name = n.name;
    v.labels = n.labels;
    for (int rid = 0; rid < c.resources().size(); ++rid) {
      // A node shows the resources it has, and none it lacks (a bundle's
      // custom name does not appear on every node).
      if (n.total[rid] == 0) continue;
      v.total.Set(c.resources().Name(rid), Quantity::Units(n.total[rid]));
      v.available.Set(c.resources().Name(rid), Quantity::Units(n.free[rid]));
    }
    for (size_t d = 0; d < n.device_free.size(); ++d) {
      v.gpus.push_back({static_cast<int>(d), Quantity::Units(n.device_free[d])});
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<Explanation> PlacementEngine::Explain(std::string_view name) const {
  const GroupRecord* g = impl_->Find(name);
  if (!g) return std::nullopt;
  return placement::ExplainGroup(impl_->cluster(), *g);
}

}  // namespace berth
