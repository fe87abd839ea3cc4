#include <algorithm>
#include <string>

#include "placement/group.h"
#include "placement/node_load.h"
#include "placement/solver.h"
#include "placement/topology.h"

namespace berth::placement {
namespace {

std::string Amount(const Cluster& c, int rid, Units u) {
  return c.resources().Name(rid) + " " + Quantity::Units(u).ToString();
}

std::string JoinInts(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(v[i]);
  return s;
}

std::string Plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// What one node offers a bundle of demand `d` in resource `rid`.
Units Offer(const Cluster& c, int n, const BundleDemand& d, int rid, Capacity cap) {
  if (rid != kGpuId) return c.Have(n, rid, cap);
  const NodeState& node = c.nodes()[n];
  if (cap == Capacity::kTotal) {
    return d.gpu >= kDevice || node.device_free.empty()
               ? static_cast<Units>(node.device_free.size()) * kDevice
               : kDevice;
  }
  return d.gpu >= kDevice ? Units{node.full_devices} * kDevice : node.best_device_free;
}

Units Need(const BundleDemand& d, int rid) {
  if (rid == kGpuId) return d.gpu;
  for (const auto& [r, u] : d.scalars) {
    if (r == rid) return u;
  }
  return 0;
}

std::vector<int> DemandResources(const BundleDemand& d) {
  std::vector<int> rids;
  if (d.gpu > 0) rids.push_back(kGpuId);
  for (const auto& [rid, u] : d.scalars) rids.push_back(rid);
  std::stable_sort(rids.begin(), rids.end(),
                   [](int a, int b) { return ScarcityRank(a) < ScarcityRank(b); });
  return rids;
}

// The first resource of a demand that no single node offers: how much is
// needed, the most one node offers, and where.
struct Short {
  int rid = -1;
  Units need = 0;
  Units most = -1;
  int where = -1;
};

// "needs GPU 16, but the most any node has is GPU 8 (n0)" for the first
// resource of d that no single node offers; empty when each resource is
// offered somewhere (the bundle is short of a combination).
std::string ShortResource(const Cluster& c, const std::vector<int>& live, const BundleDemand& d,
                          Capacity cap, Short* out) {
  for (int rid : DemandResources(d)) {
    Units need = Need(d, rid);
    Units most = -1;
    int where = -1;
    for (int n : live) {
      if (!LabelsMatch(d.labels, c.nodes()[n].labels)) continue;  // not a node it may use
      Units offer = Offer(c, n, d, rid, cap);
      if (offer > most) {
        most = offer;
        where = n;
      }
    }
    if (where < 0) return "";
    if (most < need) {
      *out = {rid, need, most, where};
      std::string which = cap == Capacity::kTotal ? "the most any node has is "
                                                  : "the most free on any node now is ";
      std::string s = "needs " + Amount(c, rid, need) + ", but " + which + Amount(c, rid, most) +
                      " (" + c.nodes()[where].name + ")";
      if (rid == kGpuId && d.gpu < kDevice && cap == Capacity::kFree) s += " on one device";
      return s;
    }
  }
  return "";
}

// The reason of one case: its code, what is short, the hint, and the
// shortfall as data (Explanation's fields of the same names).
struct Why {
  ReasonCode code = ReasonCode::kNone;
  std::string what;
  std::string hint;
  int bundle = -1;
  std::string node;
  std::string resource;
  Quantity need;
  Quantity have;
};

// Records a Short as the shortfall of `why`.
void SetShort(const Cluster& c, const Short& s, Why* why) {
  why->node = s.where >= 0 ? c.nodes()[s.where].name : "";
  why->resource = c.resources().Name(s.rid);
  why->need = Quantity::Units(s.need);
  why->have = Quantity::Units(s.most);
}

BundleDemand SumOf(const GroupRecord& g, const std::vector<int>& bundles) {
  BundleDemand sum;
  std::map<int, Units> acc;
  for (int b : bundles) {
    for (const auto& [rid, u] : g.demands[b].scalars) acc[rid] += u;
    sum.gpu += g.demands[b].gpu;
  }
  sum.scalars.assign(acc.begin(), acc.end());
  return sum;
}

bool SetFits(const Cluster& c, int n, const GroupRecord& g, const std::vector<int>& bundles,
             Capacity cap) {
  NodeLoad load(c, n, cap);
  for (int b : bundles) {
    if (!load.Fits(g.demands[b])) return false;
    load.Add(g.demands[b], b);
  }
  return true;
}

NodeExplanation ExplainNode(const Cluster& c, int n, const GroupRecord& g,
                            const std::vector<int>& todo, const std::vector<int>& pinned) {
  NodeExplanation e;
  e.node = c.nodes()[n].name;
  if (g.strategy == Strategy::kStrictSpread &&
      std::find(pinned.begin(), pinned.end(), n) != pinned.end()) {
    e.verdict = NodeVerdict::kUsedByGroup;
    return e;
  }
  // A node whose labels a bundle rules out never holds it, whatever is free.
  for (int b : todo) {
    const LabelTerm* term = FirstFailingTerm(g.demands[b].labels, c.nodes()[n].labels);
    if (term == nullptr) continue;
    if (g.strategy != Strategy::kStrictPack &&
        std::any_of(todo.begin(), todo.end(), [&](int other) {
          return LabelsMatch(g.demands[other].labels, c.nodes()[n].labels);
        })) {
      break;  // another bundle may use it: judged below
    }
    e.verdict = NodeVerdict::kNeverFits;
    e.bundle = b;
    e.resource = "label " + DescribeTerm(*term);
    return e;
  }
  if (g.strategy == Strategy::kStrictPack) {
    BundleDemand sum = SumOf(g, todo);
    e.bundle = -1;
    for (Capacity cap : {Capacity::kTotal, Capacity::kFree}) {
      if (SetFits(c, n, g, todo, cap)) continue;
      e.verdict = cap == Capacity::kTotal ? NodeVerdict::kNeverFits : NodeVerdict::kFullNow;
      Units have = 0;
      int rid = c.FirstShort(n, sum, cap, &have);
      if (rid < 0) {
        // The sum fits, but the GPU shares do not pack onto the devices.
        rid = kGpuId;
        have = c.Have(n, kGpuId, cap);
      }
      e.resource = c.resources().Name(rid);
      e.need = Quantity::Units(rid == kGpuId ? sum.gpu : Need(sum, rid));
      e.have = Quantity::Units(have);
      return e;
    }
    e.verdict = NodeVerdict::kFitsNow;
    return e;
  }
  bool any_total = false;
  NodeExplanation full;
  NodeExplanation never;
  bool have_full = false;
  bool have_never = false;
  for (int b : todo) {
    const BundleDemand& d = g.demands[b];
    if (!LabelsMatch(d.labels, c.nodes()[n].labels)) continue;
    if (c.Fits(n, d, Capacity::kFree)) {
      e.verdict = NodeVerdict::kFitsNow;
      return e;
    }
    Units have = 0;
    if (c.Fits(n, d, Capacity::kTotal)) {
      any_total = true;
      if (!have_full) {
        int rid = c.FirstShort(n, d, Capacity::kFree, &have);
        full = {e.node,
                NodeVerdict::kFullNow,
                b,
                c.resources().Name(rid),
                Quantity::Units(Need(d, rid)),
                Quantity::Units(have)};
        have_full = true;
      }
    } else if (!have_never) {
      int rid = c.FirstShort(n, d, Capacity::kTotal, &have);
      never = {e.node,
               NodeVerdict::kNeverFits,
               b,
               c.resources().Name(rid),
               Quantity::Units(Need(d, rid)),
               Quantity::Units(have)};
      have_never = true;
    }
  }
  return any_total ? full : never;
}

Why InfeasibleReason(const Cluster& c, const GroupRecord& g, const std::vector<int>& todo,
                     const std::vector<int>& live) {
  const int count = static_cast<int>(todo.size());
  Why why;
  for (int b : todo) {
    const BundleDemand& d = g.demands[b];
    bool anywhere = std::any_of(live.begin(), live.end(),
                                [&](int n) { return c.Fits(n, d, Capacity::kTotal); });
    if (anywhere) continue;
    why.bundle = b;
    if (std::none_of(live.begin(), live.end(),
                     [&](int n) { return LabelsMatch(d.labels, c.nodes()[n].labels); })) {
      std::string terms;
      for (const LabelTerm& t : d.labels) terms += (terms.empty() ? "" : ", ") + DescribeTerm(t);
      why.code = ReasonCode::kNoNodeMatchesLabels;
      why.what =
          "bundle " + std::to_string(b) + " asks for labels {" + terms + "}, and no node has them";
      why.hint = "change its bundle_label_selector, or add a node with those labels";
      why.resource = "labels";
      return why;
    }
    Short s;
    std::string text = ShortResource(c, live, d, Capacity::kTotal, &s);
    if (!text.empty()) {
      why.code = ReasonCode::kBundleTooLarge;
      why.what = "bundle " + std::to_string(b) + " " + text;
      why.hint = "lower it, or add a node with " + Amount(c, s.rid, s.need) + " or more";
      SetShort(c, s, &why);
      return why;
    }
    why.code = ReasonCode::kBundleFitsNoNode;
    why.what = "bundle " + std::to_string(b) + " " + g.spec[b].ToString() +
               " fits no single node: no node has all of it";
    why.hint = "lower it, or add a node that does";
    return why;
  }
  if (g.strategy == Strategy::kStrictPack) {
    BundleDemand sum = SumOf(g, todo);
    Short s;
    std::string text = ShortResource(c, live, sum, Capacity::kTotal, &s);
    std::string head =
        "STRICT_PACK puts all " + Plural(count, "bundle", "bundles") + " on one node and ";
    why.code = ReasonCode::kStrictPackTooLarge;
    if (!text.empty()) {
      why.what = head + text;
      why.hint = "use PACK, or add a node with " + Amount(c, s.rid, s.need) + " or more";
      SetShort(c, s, &why);
      return why;
    }
    why.what = head + "no node can hold them together";
    why.hint = "use PACK, or add a larger node";
    return why;
  }
  if (g.strategy == Strategy::kStrictSpread) {
    std::vector<int> pinned = g.PinnedNodes();
    std::vector<BundleDemand> ds;
    ds.reserve(todo.size());
    for (int b : todo) ds.push_back(g.demands[b]);
    int m = MaxDistinctNodes(c, ds, pinned, Capacity::kTotal);
    why.code = ReasonCode::kStrictSpreadTooFewNodes;
    why.what =
        "STRICT_SPREAD needs " + Plural(count, "distinct node", "distinct nodes") +
        (pinned.empty() ? "" : " besides the " + std::to_string(pinned.size()) + " it holds") +
        ", but only " + std::to_string(m) + " of the " +
        Plural(static_cast<int>(live.size()) - static_cast<int>(pinned.size()), "node", "nodes") +
        " can ever hold its bundles";
    why.hint = "use SPREAD, or add nodes";
    why.resource = "nodes";
    why.need = Quantity::Whole(count);
    why.have = Quantity::Whole(m);
    return why;
  }
  BundleDemand sum = SumOf(g, todo);
  why.hint = "lower them, or add nodes";
  for (int rid : DemandResources(sum)) {
    Units cluster_total = 0;
    for (int n : live) cluster_total += c.Have(n, rid, Capacity::kTotal);
    Units need = rid == kGpuId ? sum.gpu : Need(sum, rid);
    if (need > cluster_total) {
      why.code = ReasonCode::kClusterTooSmall;
      why.what = "the " + Plural(count, "bundle", "bundles") + " need " + Amount(c, rid, need) +
                 " together, but the whole cluster has " + Amount(c, rid, cluster_total);
      SetShort(c, {rid, need, cluster_total, -1}, &why);
      return why;
    }
  }
  why.code = ReasonCode::kBundlesDoNotPack;
  why.what = "the " + Plural(count, "bundle", "bundles") +
             " cannot be packed onto the nodes together even when they are empty";
  return why;
}

Why WaitingReason(const Cluster& c, const GroupRecord& g, const std::vector<int>& todo,
                  const std::vector<int>& live, const Explanation& e) {
  const int count = static_cast<int>(todo.size());
  Why why;
  why.hint = "it is placed when capacity is released or a node is added";
  for (int b : todo) {
    const BundleDemand& d = g.demands[b];
    bool anywhere =
        std::any_of(live.begin(), live.end(), [&](int n) { return c.Fits(n, d, Capacity::kFree); });
    if (anywhere) continue;
    Short s;
    std::string text = ShortResource(c, live, d, Capacity::kFree, &s);
    if (text.empty()) {
      text = g.spec[b].ToString() + " fits no single node now";
    } else {
      SetShort(c, s, &why);
    }
    why.code = ReasonCode::kNodesBusy;
    why.bundle = b;
    why.what = "bundle " + std::to_string(b) + " " + text + "; " +
               Plural(e.full_now, "node is", "nodes are") + " full now, " +
               Plural(e.never_fits, "node", "nodes") + " can never hold it";
    return why;
  }
  if (g.strategy == Strategy::kStrictPack) {
    BundleDemand sum = SumOf(g, todo);
    std::string need = sum.gpu > 0 ? ", " + Amount(c, kGpuId, sum.gpu) + " among them" : "";
    why.code = ReasonCode::kStrictPackNodesBusy;
    why.what = "STRICT_PACK needs all " + Plural(count, "bundle", "bundles") + " on one node" +
               need + "; " + Plural(e.full_now, "node", "nodes") + " could hold them but " +
               (e.full_now == 1 ? "is" : "are") + " full now";
    return why;
  }
  if (g.strategy == Strategy::kStrictSpread) {
    std::vector<BundleDemand> ds;
    ds.reserve(todo.size());
    for (int b : todo) ds.push_back(g.demands[b]);
    int m = MaxDistinctNodes(c, ds, g.PinnedNodes(), Capacity::kFree);
    why.code = ReasonCode::kStrictSpreadNodesBusy;
    why.what = "STRICT_SPREAD needs " + Plural(count, "distinct node", "distinct nodes") +
               " with room now, but only " + std::to_string(m) + " can take one of its bundles";
    why.resource = "nodes";
    why.need = Quantity::Whole(count);
    why.have = Quantity::Whole(m);
    return why;
  }
  why.code = ReasonCode::kFreeCapacityFragmented;
  why.what = "each bundle fits some node alone, but the " + Plural(count, "bundle", "bundles") +
             " do not fit the free capacity together";
  return why;
}

}  // namespace

std::vector<int> GroupRecord::Unplaced() const {
  std::vector<int> out;
  for (size_t b = 0; b < node_of.size(); ++b) {
    if (node_of[b] < 0) out.push_back(static_cast<int>(b));
  }
  return out;
}

std::vector<int> GroupRecord::PinnedNodes() const {
  std::vector<int> out;
  for (int n : node_of) {
    if (n >= 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

// A group that must stay inside one domain and would fit the cluster as a
// whole (its totals, or its free capacity now) is short of a domain, not of
// a resource: say so, and which domains there are.
std::optional<Why> DomainReason(const Cluster& c, const GroupRecord& g,
                                const std::vector<int>& todo) {
  if (!g.topology || g.topology->mode != Topology::Mode::kRequire) return std::nullopt;
  std::vector<BundleDemand> demands;
  demands.reserve(todo.size());
  for (int b : todo) demands.push_back(g.demands[b]);
  SolveRequest r;
  r.strategy = g.strategy;
  r.bundles = demands;
  const std::vector<int> pinned = g.PinnedNodes();
  r.pinned = pinned;
  r.capacity = g.fits_totals ? Capacity::kFree : Capacity::kTotal;
  if (!Solve(c, r).found) return std::nullopt;  // short as a whole: the usual reasons
  std::vector<std::string> domains = Domains(c, g.topology->key);
  std::sort(domains.begin(), domains.end());
  std::string names;
  for (const std::string& d : domains) names += (names.empty() ? "" : ", ") + d;
  const std::string key = g.topology->key;
  Why why;
  why.resource = "domain";
  if (g.fits_totals) {
    why.code = ReasonCode::kDomainsBusy;
    why.what = "no single " + key + " domain has room for the group now (" +
               (names.empty() ? "no node has the label " + key : key + ": " + names) +
               "), though the cluster as a whole has";
    why.hint = "it waits for room in one domain; or use topology mode prefer";
  } else {
    why.code = ReasonCode::kNoDomainFits;
    why.what = "no single " + key + " domain can hold the group (" +
               (names.empty() ? "no node has the label " + key : key + ": " + names) + ")";
    why.hint = "use topology mode prefer, or make a domain larger";
  }
  return why;
}

}  // namespace

Explanation ExplainGroup(const Cluster& c, const GroupRecord& g) {
  Explanation e;
  e.group = g.name;
  if (g.state == GroupState::kCreated || g.state == GroupState::kRemoved) return e;
  std::vector<int> todo = g.Unplaced();
  std::vector<int> pinned = g.PinnedNodes();
  std::vector<int> live;
  for (int n = 0; n < static_cast<int>(c.nodes().size()); ++n) {
    if (!c.nodes()[n].alive) continue;
    live.push_back(n);
    NodeExplanation ne = ExplainNode(c, n, g, todo, pinned);
    switch (ne.verdict) {
      case NodeVerdict::kFitsNow:
        ++e.fits_now;
        break;
      case NodeVerdict::kFullNow:
        ++e.full_now;
        break;
      case NodeVerdict::kNeverFits:
        ++e.never_fits;
        break;
      case NodeVerdict::kUsedByGroup:
        break;
    }
    e.nodes.push_back(std::move(ne));
  }
  std::string prefix;
  if (g.state == GroupState::kRescheduling && !g.lost.empty()) {
    e.lost = g.lost;
    prefix = (g.lost.size() == 1 ? "bundle " : "bundles ") + JoinInts(g.lost) + " lost with " +
             (g.lost.size() == 1 ? "its node" : "their nodes") + "; ";
  }
  Why why;
  if (live.empty()) {
    why.code = ReasonCode::kNoNodes;
    why.what = "the cluster has no nodes";
    why.hint = "add a node";
  } else if (std::optional<Why> domain = DomainReason(c, g, todo)) {
    why = std::move(*domain);
  } else if (!g.fits_totals) {
    why = InfeasibleReason(c, g, todo, live);
    e.budget_exhausted = g.totals_budget_exhausted;
  } else {
    why = WaitingReason(c, g, todo, live, e);
  }
  e.reason_code = why.code;
  e.hint = why.hint;
  e.reason = prefix + why.what + "; " + why.hint;
  if (e.budget_exhausted) e.reason += " (search budget exhausted; the answer may be wrong)";
  e.bundle = why.bundle;
  e.node = std::move(why.node);
  e.resource = std::move(why.resource);
  e.need = why.need;
  e.have = why.have;
  return e;
}

}  // namespace berth::placement

namespace berth {

const char* ReasonCodeName(ReasonCode code) {
  switch (code) {
    case ReasonCode::kNone:
      return "none";
    case ReasonCode::kNoNodes:
      return "no_nodes";
    case ReasonCode::kBundleTooLarge:
      return "bundle_too_large";
    case ReasonCode::kBundleFitsNoNode:
      return "bundle_fits_no_node";
    case ReasonCode::kStrictPackTooLarge:
      return "strict_pack_too_large";
    case ReasonCode::kStrictSpreadTooFewNodes:
      return "strict_spread_too_few_nodes";
    case ReasonCode::kClusterTooSmall:
      return "cluster_too_small";
    case ReasonCode::kBundlesDoNotPack:
      return "bundles_do_not_pack";
    case ReasonCode::kNodesBusy:
      return "nodes_busy";
    case ReasonCode::kStrictPackNodesBusy:
      return "strict_pack_nodes_busy";
    case ReasonCode::kStrictSpreadNodesBusy:
      return "strict_spread_nodes_busy";
    case ReasonCode::kFreeCapacityFragmented:
      return "free_capacity_fragmented";
    case ReasonCode::kNoNodeMatchesLabels:
      return "no_node_matches_labels";
    case ReasonCode::kNoDomainFits:
      return "no_domain_fits";
    case ReasonCode::kDomainsBusy:
      return "domains_busy";
  }
  return "none";
}

}  // namespace berth
