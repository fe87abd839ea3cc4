#pragma once
// Op lists for the placement property tests: random sequences of add / remove
// node, create / remove group and purge; applying them to an engine; and the
// engine's public state as text and for comparison.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/property_util.h"
#include "tests/property/random_cluster.h"

namespace berth::property_test {

// ---------------------------------------------------------------- ops

struct Op {
  enum Kind { kAddNode, kRemoveNode, kCreate, kRemoveGroup, kPurge };
  Kind kind = kAddNode;
  NodeSpec node;     // kAddNode
  std::string name;  // kRemoveNode, kRemoveGroup
  GroupSpec group;   // kCreate
};

inline std::string Describe(const Op& op) {
  switch (op.kind) {
    case Op::kAddNode: {
      std::string s = "AddNode " + op.node.name + " " + op.node.resources.ToString();
      for (const auto& [k, v] : op.node.labels) s += " " + k + "=" + v;
      return s;
    }
    case Op::kRemoveNode:
      return "RemoveNode " + op.name;
    case Op::kCreate: {
      std::string s = "Create " + op.group.name + " " + StrategyName(op.group.strategy) + " [";
      for (size_t b = 0; b < op.group.bundles.size(); ++b) {
        if (b) s += ", ";
        s += op.group.bundles[b].ToString();
      }
      return s + "]";
    }
    case Op::kRemoveGroup:
      return "RemoveGroup " + op.name;
    case Op::kPurge:
      return "PurgeRemoved";
  }
  return "?";
}

inline std::string DescribeAll(const std::vector<Op>& ops) {
  std::string s;
  for (size_t i = 0; i < ops.size(); ++i)
    s += "  [" + std::to_string(i) + "] " + Describe(ops[i]) + "\n";
  return s;
}

// Applies one op; an error means the op list is not valid for this engine
// (only possible for op lists edited by the minimizer).
inline std::string Apply(PlacementEngine& e, const Op& op, std::optional<GroupState>* created) {
  created->reset();
  switch (op.kind) {
    case Op::kAddNode: {
      Status s = e.AddNode(op.node);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kRemoveNode: {
      Status s = e.RemoveNode(op.name);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kCreate: {
      Result<GroupState> r = e.CreateGroup(op.group);
      if (!r) return r.error().ToString();
      *created = *r;
      return "";
    }
    case Op::kRemoveGroup: {
      Status s = e.RemoveGroup(op.name);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kPurge:
      e.PurgeRemoved();
      return "";
  }
  return "bad op";
}

// Random op sequences over a small cluster (at most `max_nodes` live nodes).
struct SequenceShape {
  int max_nodes = 8;    // live nodes at most
  int max_initial = 6;  // nodes added first
  int min_ops = 6, max_ops = 30;
  int max_bundles = 8;
};

inline std::vector<Op> RandomSequence(Rng& r, const SequenceShape& shape) {
  const int max_nodes = shape.max_nodes;
  const Profile profile = RandomProfile(r);
  std::vector<Op> ops;
  std::vector<std::string> live, dead;
  std::vector<NodeSpec> seen;
  std::map<std::string, NodeSpec> live_specs;
  std::vector<std::string> groups, removed, reusable;
  int next_node = 0, next_group = 0;
  auto add_node = [&] {
    std::string name;
    if (!dead.empty() && r.Chance(0.25)) {
      size_t i = r.Next() % dead.size();
      name = dead[i];
      dead.erase(dead.begin() + static_cast<long>(i));
    } else {
      name = "n" + std::to_string(next_node++);
    }
    Op op;
    op.kind = Op::kAddNode;
    op.node = RandomNode(r, name, profile, seen);
    seen.push_back(op.node);
    live.push_back(name);
    live_specs[name] = op.node;
    ops.push_back(op);
  };
  int initial = r.Int(1, std::min(shape.max_initial, max_nodes));
  for (int i = 0; i < initial; ++i) add_node();
  int count = r.Int(shape.min_ops, shape.max_ops);
  for (int i = 0; i < count; ++i) {
    double u = r.Real();
    Op op;
    if (u < 0.48) {
      std::string name;
      if (!reusable.empty() && r.Chance(0.5)) {
        name = reusable.back();
        reusable.pop_back();
      } else {
        name = "g" + std::to_string(next_group++);
      }
      op.kind = Op::kCreate;
      std::vector<NodeSpec> specs;
      for (const auto& [n, spec] : live_specs) specs.push_back(spec);
      op.group = RandomGroup(r, name, profile, shape.max_bundles, specs);
      groups.push_back(name);
    } else if (u < 0.68) {
      if (groups.empty()) continue;
      size_t k = r.Next() % groups.size();
      op.kind = Op::kRemoveGroup;
      op.name = groups[k];
      removed.push_back(groups[k]);
      groups.erase(groups.begin() + static_cast<long>(k));
    } else if (u < 0.8) {
      // Now and then down to no node at all.
      if (live.empty() || (live.size() == 1 && !r.Chance(0.2))) continue;
      size_t k = r.Next() % live.size();
      op.kind = Op::kRemoveNode;
      op.name = live[k];
      dead.push_back(live[k]);
      live_specs.erase(live[k]);
      live.erase(live.begin() + static_cast<long>(k));
    } else if (u < 0.96) {
      if (static_cast<int>(live.size()) >= max_nodes) continue;
      add_node();
      continue;
    } else {
      op.kind = Op::kPurge;
      reusable.insert(reusable.end(), removed.begin(), removed.end());
      removed.clear();
    }
    ops.push_back(op);
  }
  return ops;
}

// ---------------------------------------------------------------- dumps

inline std::string SharesString(const std::vector<GpuShare>& shares) {
  std::string s = "[";
  for (size_t i = 0; i < shares.size(); ++i) {
    if (i) s += " ";
    s += std::to_string(shares[i].device) + ":" + shares[i].fraction.ToString();
  }
  return s + "]";
}

// Everything the public API shows, as text (for determinism and messages).
inline std::string Dump(const PlacementEngine& e) {
  std::string s;
  for (const GroupView& g : e.Groups()) {
    s += "group " + g.name + " " + StrategyName(g.strategy) + " " + GroupStateName(g.state) + " [";
    for (size_t b = 0; b < g.bundles.size(); ++b) {
      if (b) s += ", ";
      s += g.bundles[b].ToString();
    }
    s += "]";
    for (const BundlePlacement& p : g.placed) {
      s += " b" + std::to_string(p.index) + "@" + p.node + SharesString(p.gpus);
    }
    s += "\n";
  }
  for (const NodeView& n : e.Nodes()) {
    s += "node " + n.name + " total=" + n.total.ToString() + " avail=" + n.available.ToString() +
         " gpus=[";
    for (size_t d = 0; d < n.gpus.size(); ++d) {
      if (d) s += " ";
      s += std::to_string(n.gpus[d].id) + ":" + n.gpus[d].free.ToString();
    }
    s += "]";
    for (const auto& [k, v] : n.labels) s += " " + k + "=" + v;
    s += "\n";
  }
  return s;
}

// Whether two engines show the same state (Dump() is the readable, slower
// form of the same comparison).
inline bool SameState(const std::vector<GroupView>& ga, const std::vector<NodeView>& na,
                      const std::vector<GroupView>& gb, const std::vector<NodeView>& nb) {
  if (ga.size() != gb.size() || na.size() != nb.size()) return false;
  for (size_t i = 0; i < ga.size(); ++i) {
    const GroupView &x = ga[i], &y = gb[i];
    if (x.name != y.name || x.strategy != y.strategy || x.state != y.state ||
        x.bundles != y.bundles || x.placed != y.placed) {
      return false;
    }
  }
  for (size_t i = 0; i < na.size(); ++i) {
    const NodeView &x = na[i], &y = nb[i];
    if (x.name != y.name || !(x.total == y.total) || !(x.available == y.available) ||
        x.labels != y.labels || x.gpus.size() != y.gpus.size()) {
      return false;
    }
    for (size_t d = 0; d < x.gpus.size(); ++d) {
      if (x.gpus[d].id != y.gpus[d].id || x.gpus[d].free != y.gpus[d].free) return false;
    }
  }
  return true;
}

}  // namespace berth::property_test
