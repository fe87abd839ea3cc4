#pragma once
// Checks of the placement property tests against the exhaustive oracle
// (tests/property/brute_force.h): the first group an op places (property 5),
// waiting groups (property 4) and explanations (property 7); and the counters
// the checks keep (Stats).

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/brute_force.h"
#include "tests/property/op_sequence.h"

namespace berth::property_test {

// ---------------------------------------------------------------- checks

struct Stats {
  long sequences = 0;
  long ops = 0;
  long waiting_proofs = 0;     // PENDING/RESCHEDULING groups proven not to fit now
  long pending_totals = 0;     // PENDING groups proven to fit the empty cluster
  long infeasible_totals = 0;  // INFEASIBLE groups proven not to fit the empty cluster
  long explained = 0;          // explanations checked
  long unverified = 0;         // oracle hit its step limit
  long out_of_scope = 0;       // waiting groups of more than 8 bundles, not checked
  long agreement_cases = 0;    // property 5 cases
  long agreement_created = 0;
  long agreement_pack_opt = 0;
  long agreement_spread_opt = 0;
  long agreement_not_created = 0;
  long removal_restores = 0;
  long first_checks = 0;  // the first group an op places, vs the oracle
  long first_opt = 0;     // ... placed with the fewest / most nodes
  long determinism_compares = 0;
  long oracle_steps = 0;
  long states[5] = {0, 0, 0, 0, 0};  // group states seen after ops, by GroupState
};

inline bf::Options OracleOptions() {
  bf::Options o;
  o.max_steps = 3'000'000;
  return o;
}

inline std::vector<int> UnplacedBundles(const GroupView& g) {
  std::vector<bool> placed(g.bundles.size(), false);
  for (const BundlePlacement& p : g.placed) {
    if (p.index >= 0 && p.index < static_cast<int>(placed.size())) placed[p.index] = true;
  }
  std::vector<int> out;
  for (size_t b = 0; b < placed.size(); ++b) {
    if (!placed[b]) out.push_back(static_cast<int>(b));
  }
  return out;
}

inline int NodeIndex(const std::vector<NodeView>& nodes, const std::string& name) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// The oracle's view of every live node, free and empty.
struct Capacities {
  std::vector<bf::Node> free, total;
};

inline Capacities CapacitiesOf(const std::vector<NodeView>& nodes) {
  Capacities c;
  for (const NodeView& n : nodes) {
    c.free.push_back(bf::FreeOf(n));
    c.total.push_back(bf::TotalOf(n));
  }
  return c;
}

// The oracle's problem for what a group has not placed, against the cluster's
// free capacity (or its totals, for the whole group).
inline bf::Problem WaitingProblem(const GroupView& g, const std::vector<NodeView>& nodes,
                                  const Capacities& caps, bool totals) {
  bf::Problem p;
  p.strategy = g.strategy;
  p.nodes = totals ? caps.total : caps.free;
  if (totals) {
    for (const ResourceSet& b : g.bundles) p.bundles.push_back(bf::FromSpec(b));
    return p;
  }
  for (int b : UnplacedBundles(g)) p.bundles.push_back(bf::FromSpec(g.bundles[b]));
  std::set<int> pinned;
  for (const BundlePlacement& pl : g.placed) pinned.insert(NodeIndex(nodes, pl.node));
  p.pinned.assign(pinned.begin(), pinned.end());
  return p;
}

inline std::string WitnessString(const bf::Problem& p, const bf::Answer& a) {
  std::string s = "{";
  for (size_t b = 0; b < a.witness.size(); ++b) {
    if (b) s += ", ";
    s += std::to_string(b) + "->" + p.nodes[a.witness[b]].name;
  }
  return s + "}";
}

// The cluster as a freshly added node shows it.
inline NodeView EmptyNodeView(const NodeSpec& spec) {
  NodeView v;
  v.name = spec.name;
  v.labels = spec.labels;
  for (const auto& [name, q] : spec.resources.items()) {
    if (q.IsZero()) continue;
    v.total.Set(name, q);
    v.available.Set(name, q);
  }
  for (int64_t d = 0; d < spec.resources.Get("GPU").WholePart(); ++d) {
    v.gpus.push_back({static_cast<int>(d), Quantity::Whole(1)});
  }
  return v;
}

// The first group an op places (or tries to) sees a cluster that can be
// rebuilt from the state before the op:
//   Create       the new group, on the cluster as it was;
//   RemoveNode   the node gone, its bundles lost (their groups RESCHEDULING);
//   AddNode      the new node, empty;
//   RemoveGroup  the group's capacity given back.
// After the last three the engine retries waiting groups, RESCHEDULING ones
// first, then in creation order; the first of them sees exactly that cluster.
// That group must be placed iff the oracle finds a placement of its unplaced
// bundles (surviving bundles' nodes pinned), and then, for PACK / SPREAD, on
// the fewest / most distinct nodes possible (pinned ones included).
inline std::string CheckFirstPlacement(const std::vector<GroupView>& before_groups,
                                       const std::vector<NodeView>& before_nodes, const Op& op,
                                       const std::vector<GroupView>& groups, Stats* stats) {
  if (op.kind == Op::kPurge) return "";
  std::vector<NodeView> nodes;
  for (const NodeView& n : before_nodes) {
    if (op.kind == Op::kRemoveNode && n.name == op.name) continue;
    nodes.push_back(n);
  }
  if (op.kind == Op::kAddNode) nodes.push_back(EmptyNodeView(op.node));
  std::optional<GroupView> first;
  if (op.kind == Op::kCreate) {
    first = GroupView{.name = op.group.name,
                      .strategy = op.group.strategy,
                      .state = GroupState::kPending,
                      .bundles = op.group.bundles,
                      .placed = {}};
  } else {
    std::vector<GroupView> waiting;  // as the retry sees them
    for (const GroupView& g : before_groups) {
      if (op.kind == Op::kRemoveGroup && g.name == op.name) {
        for (const BundlePlacement& p : g.placed) {  // give back what it held
          NodeView& n = nodes[NodeIndex(nodes, p.node)];
          for (const auto& [name, q] : g.bundles[p.index].items()) {
            if (!q.IsZero()) n.available.Set(name, n.available.Get(name) + q);
          }
          for (const GpuShare& share : p.gpus) n.gpus[share.device].free += share.fraction;
        }
        continue;
      }
      GroupView v = g;
      if (op.kind == Op::kRemoveNode && !v.placed.empty()) {
        size_t held = v.placed.size();
        std::erase_if(v.placed, [&](const BundlePlacement& p) { return p.node == op.name; });
        if (v.placed.size() != held) v.state = GroupState::kRescheduling;
      }
      if (v.state == GroupState::kPending || v.state == GroupState::kInfeasible ||
          v.state == GroupState::kRescheduling) {
        waiting.push_back(std::move(v));
      }
    }
    std::stable_partition(waiting.begin(), waiting.end(),
                          [](const GroupView& g) { return g.state == GroupState::kRescheduling; });
    if (waiting.empty()) return "";
    first = waiting.front();
  }
  const GroupView* after = nullptr;
  for (const GroupView& g : groups) {
    if (g.name == first->name) after = &g;
  }
  if (!after) return "group " + first->name + " vanished";
  bf::Problem p = WaitingProblem(*first, nodes, CapacitiesOf(nodes), /*totals=*/false);
  // The solver is exhaustive up to 8 bundles (past that it has a step budget).
  if (p.bundles.size() > 8) return "";
  bf::Answer fits = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
  stats->oracle_steps += fits.steps;
  if (!fits.complete) {
    ++stats->unverified;
    return "";
  }
  ++stats->first_checks;
  auto where = [&] {
    return "group " + first->name + " " + StrategyName(first->strategy) +
           " (first placed by this op, " + GroupStateName(first->state) + " before)";
  };
  const bool placed = after->state == GroupState::kCreated;
  if (placed != fits.feasible) {
    return where() + " is " + GroupStateName(after->state) + ", but the oracle says its " +
           std::to_string(p.bundles.size()) + " unplaced bundles " +
           (fits.feasible ? "fit: " + WitnessString(p, fits) : "do not fit");
  }
  if (placed && (first->strategy == Strategy::kPack || first->strategy == Strategy::kSpread)) {
    const bool pack = first->strategy == Strategy::kPack;
    bf::Answer best =
        bf::Solve(p, pack ? bf::Goal::kFewestNodes : bf::Goal::kMostNodes, OracleOptions());
    stats->oracle_steps += best.steps;
    std::set<std::string> used;
    for (const BundlePlacement& pl : after->placed) used.insert(pl.node);
    if (!best.complete) {
      ++stats->unverified;
    } else if (static_cast<int>(used.size()) != best.distinct) {
      return where() + " was placed on " + std::to_string(used.size()) +
             " distinct nodes (surviving bundles' included); the " + (pack ? "fewest" : "most") +
             " possible is " + std::to_string(best.distinct) + ": " + WitnessString(p, best);
    } else {
      ++stats->first_opt;
    }
  }
  return "";
}

// Property 4: waiting groups do not fit now; INFEASIBLE / PENDING agree with
// the empty cluster.
inline std::string CheckWaiting(const std::vector<GroupView>& groups,
                                const std::vector<NodeView>& nodes, const Capacities& caps,
                                Stats* stats) {
  for (const GroupView& g : groups) {
    auto where = [&] {
      return "group " + g.name + " " + StrategyName(g.strategy) + " (" + GroupStateName(g.state) +
             ")";
    };
    // The solver is exhaustive up to 8 bundles; past that it has a step
    // budget and may answer wrongly (see the report's known limitation).
    if (g.bundles.size() > 8) {
      ++stats->out_of_scope;
      continue;
    }
    if (g.state == GroupState::kPending || g.state == GroupState::kRescheduling) {
      bf::Problem p = WaitingProblem(g, nodes, caps, /*totals=*/false);
      bf::Answer a = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
      stats->oracle_steps += a.steps;
      if (!a.complete) {
        ++stats->unverified;
      } else if (a.feasible) {
        return where() + " is waiting, but its " + std::to_string(p.bundles.size()) +
               " unplaced bundles fit the free capacity now: " + WitnessString(p, a);
      } else {
        ++stats->waiting_proofs;
      }
    }
    if (g.state == GroupState::kPending || g.state == GroupState::kInfeasible) {
      bf::Problem p = WaitingProblem(g, nodes, caps, /*totals=*/true);
      bf::Answer a = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
      stats->oracle_steps += a.steps;
      if (!a.complete) {
        ++stats->unverified;
      } else if (a.feasible && g.state == GroupState::kInfeasible) {
        return where() + " fits the empty cluster: " + WitnessString(p, a);
      } else if (!a.feasible && g.state == GroupState::kPending) {
        return where() + " does not fit even the empty cluster";
      } else if (a.feasible) {
        ++stats->pending_totals;
      } else {
        ++stats->infeasible_totals;
      }
    }
  }
  return "";
}

// Property 7: explanations agree with single-node checks.
inline std::string CheckExplain(const PlacementEngine& e, const std::vector<GroupView>& groups,
                                const std::vector<NodeView>& nodes, const Capacities& caps,
                                Stats* stats) {
  for (const GroupView& g : groups) {
    if (g.state == GroupState::kCreated || g.state == GroupState::kRemoved) continue;
    auto where = [&] {
      return "explanation of group " + g.name + " " + StrategyName(g.strategy) + " (" +
             GroupStateName(g.state) + ")";
    };
    std::optional<Explanation> ex = e.Explain(g.name);
    if (!ex) return where() + ": missing";
    if (ex->reason.empty()) return where() + ": empty reason";
    if (ex->nodes.size() != nodes.size()) return where() + ": not one entry per live node";
    std::vector<int> todo = UnplacedBundles(g);
    std::vector<bf::Bundle> waiting;
    for (int b : todo) waiting.push_back(bf::FromSpec(g.bundles[b]));
    std::set<std::string> pinned;
    for (const BundlePlacement& p : g.placed) pinned.insert(p.node);
    int fits = 0, full = 0, never = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodeExplanation& ne = ex->nodes[i];
      if (ne.node != nodes[i].name) return where() + ": nodes out of order";
      const bf::Node& free = caps.free[i];
      const bf::Node& total = caps.total[i];
      NodeVerdict want;
      if (g.strategy == Strategy::kStrictSpread && pinned.count(nodes[i].name)) {
        want = NodeVerdict::kUsedByGroup;
      } else if (g.strategy == Strategy::kStrictPack) {
        want = bf::FitsTogether(free, waiting)    ? NodeVerdict::kFitsNow
               : bf::FitsTogether(total, waiting) ? NodeVerdict::kFullNow
                                                  : NodeVerdict::kNeverFits;
      } else {
        bool now = false, ever = false;
        for (const bf::Bundle& b : waiting) {
          std::vector<bf::Bundle> one = {b};
          now = now || bf::FitsTogether(free, one);
          ever = ever || bf::FitsTogether(total, one);
        }
        want = now ? NodeVerdict::kFitsNow : ever ? NodeVerdict::kFullNow : NodeVerdict::kNeverFits;
      }
      if (ne.verdict != want) {
        return where() + ": node " + ne.node + " is " + NodeVerdictName(ne.verdict) +
               ", the oracle says " + NodeVerdictName(want);
      }
      fits += want == NodeVerdict::kFitsNow;
      full += want == NodeVerdict::kFullNow;
      never += want == NodeVerdict::kNeverFits;
      if ((want == NodeVerdict::kFullNow || want == NodeVerdict::kNeverFits) &&
          g.strategy != Strategy::kStrictPack) {
        if (std::find(todo.begin(), todo.end(), ne.bundle) == todo.end()) {
          return where() + ": node " + ne.node + " names bundle " + std::to_string(ne.bundle) +
                 ", which is not waiting";
        }
        if (ne.resource.empty() || !(ne.need > ne.have)) {
          return where() + ": node " + ne.node + " says short of '" + ne.resource + "' need " +
                 ne.need.ToString() + " have " + ne.have.ToString();
        }
      }
    }
    if (ex->fits_now != fits || ex->full_now != full || ex->never_fits != never) {
      return where() + ": counts " + std::to_string(ex->fits_now) + "/" +
             std::to_string(ex->full_now) + "/" + std::to_string(ex->never_fits) + " != verdicts " +
             std::to_string(fits) + "/" + std::to_string(full) + "/" + std::to_string(never);
    }
    ++stats->explained;
  }
  return "";
}

}  // namespace berth::property_test
