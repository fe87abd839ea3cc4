#pragma once
// Checks of the placement property tests that need no oracle: capacity and
// GPU devices (property 1), the strict strategies (property 2), and, across
// ops, that placed bundles never move (Tracker).

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "berth/placement.h"
#include "tests/property/brute_force.h"
#include "tests/property/op_sequence.h"

namespace berth::property_test {

// Property 1 (capacity, devices, shares) and the shape of every group view.
inline std::string CheckCapacity(const std::vector<GroupView>& groups,
                                 const std::vector<NodeView>& nodes) {
  std::map<std::string, std::map<std::string, Units>> used;  // node -> resource -> placed
  std::map<std::string, std::map<int, Units>> dev_used;      // node -> device -> shares
  std::map<std::string, const NodeView*> by_name;
  for (const NodeView& n : nodes) {
    if (by_name.count(n.name)) return "node " + n.name + " listed twice";
    by_name[n.name] = &n;
  }
  for (const GroupView& g : groups) {
    auto where = [&] { return "group " + g.name + " (" + GroupStateName(g.state) + ")"; };
    const bool holds = g.state == GroupState::kCreated || g.state == GroupState::kRescheduling;
    if (!holds && !g.placed.empty()) return where() + " shows placed bundles";
    if (g.state == GroupState::kCreated && g.placed.size() != g.bundles.size()) {
      return where() + " is CREATED with " + std::to_string(g.placed.size()) + " of " +
             std::to_string(g.bundles.size()) + " bundles placed";
    }
    if (g.state == GroupState::kRescheduling && g.placed.size() >= g.bundles.size()) {
      return where() + " is RESCHEDULING with every bundle placed";
    }
    int prev_index = -1;
    for (const BundlePlacement& p : g.placed) {
      auto at = [&] { return where() + " bundle " + std::to_string(p.index); };
      if (p.index <= prev_index || p.index >= static_cast<int>(g.bundles.size())) {
        return at() + ": placed indices not ascending / out of range";
      }
      prev_index = p.index;
      auto it = by_name.find(p.node);
      if (it == by_name.end()) return at() + " is on node " + p.node + ", which is not live";
      const NodeView& node = *it->second;
      const ResourceSet& spec = g.bundles[p.index];
      for (const auto& [name, q] : spec.items()) used[p.node][name] += q.units();
      const Quantity gpu = spec.Get("GPU");
      const int devices = static_cast<int>(node.gpus.size());
      for (const GpuShare& s : p.gpus) {
        if (s.device < 0 || s.device >= devices) {
          return at() + " has device " + std::to_string(s.device) + " on " + p.node + " with " +
                 std::to_string(devices) + " devices";
        }
        dev_used[p.node][s.device] += s.fraction.units();
      }
      if (gpu.IsZero()) {
        if (!p.gpus.empty()) return at() + " asks no GPU but has " + SharesString(p.gpus);
      } else if (gpu >= Quantity::Whole(1)) {
        if (static_cast<int64_t>(p.gpus.size()) != gpu.WholePart()) {
          return at() + " asks GPU " + gpu.ToString() + " but has " + SharesString(p.gpus);
        }
        for (size_t i = 0; i < p.gpus.size(); ++i) {
          if (p.gpus[i].fraction != Quantity::Whole(1)) {
            return at() + " (whole GPU) has a partial share " + SharesString(p.gpus);
          }
          if (i > 0 && p.gpus[i].device <= p.gpus[i - 1].device) {
            return at() + " devices not distinct and ascending: " + SharesString(p.gpus);
          }
        }
      } else {
        if (p.gpus.size() != 1 || p.gpus[0].fraction != gpu) {
          return at() + " asks GPU " + gpu.ToString() + " but has " + SharesString(p.gpus);
        }
      }
    }
  }
  for (const NodeView& n : nodes) {
    auto at = [&] { return "node " + n.name; };
    if (n.total.items().size() != n.available.items().size()) {
      return at() + ": total " + n.total.ToString() + " and available " + n.available.ToString() +
             " name different resources";
    }
    for (const auto& [name, total] : n.total.items()) {
      if (!n.available.Has(name)) return at() + ": available lacks " + name;
      Units placed = used[n.name][name];
      if (placed > total.units()) {
        return at() + ": " + name + " placed " + Quantity::Units(placed).ToString() + " > total " +
               total.ToString();
      }
      if (n.available.Get(name).units() != total.units() - placed) {
        return at() + ": " + name + " available " + n.available.Get(name).ToString() +
               " != total " + total.ToString() + " - placed " + Quantity::Units(placed).ToString();
      }
    }
    for (const auto& [name, placed] : used[n.name]) {
      if (placed > 0 && !n.total.Has(name)) {
        return at() + ": holds " + name + " " + Quantity::Units(placed).ToString() +
               " but has none";
      }
    }
    const Quantity gpus = n.total.Get("GPU");
    if (static_cast<int64_t>(n.gpus.size()) != gpus.WholePart()) {
      return at() + ": " + std::to_string(n.gpus.size()) + " devices for GPU " + gpus.ToString();
    }
    for (size_t d = 0; d < n.gpus.size(); ++d) {
      if (n.gpus[d].id != static_cast<int>(d)) return at() + ": device ids not 0..n-1";
      Units shares = dev_used[n.name][static_cast<int>(d)];
      if (shares > Quantity::kScale) {
        return at() + ": device " + std::to_string(d) + " holds " +
               Quantity::Units(shares).ToString() + " > 1";
      }
      if (n.gpus[d].free.units() != Quantity::kScale - shares) {
        return at() + ": device " + std::to_string(d) + " free " + n.gpus[d].free.ToString() +
               " != 1 - " + Quantity::Units(shares).ToString();
      }
    }
  }
  return "";
}

// Property 2.
inline std::string CheckStrict(const std::vector<GroupView>& groups) {
  for (const GroupView& g : groups) {
    if (g.placed.empty()) continue;
    std::set<std::string> nodes;
    for (const BundlePlacement& p : g.placed) nodes.insert(p.node);
    if (g.strategy == Strategy::kStrictPack && nodes.size() != 1) {
      return "STRICT_PACK group " + g.name + " (" + GroupStateName(g.state) + ") spans " +
             std::to_string(nodes.size()) + " nodes";
    }
    if (g.strategy == Strategy::kStrictSpread && nodes.size() != g.placed.size()) {
      return "STRICT_SPREAD group " + g.name + " (" + GroupStateName(g.state) + ") puts " +
             std::to_string(g.placed.size()) + " bundles on " + std::to_string(nodes.size()) +
             " nodes";
    }
  }
  return "";
}

// Tracks placements across ops: placed bundles never move (only a node's
// removal or the group's removal takes them away), and whole-GPU bundles of a
// group that were placed on one node by the same op get ascending devices in
// bundle order (the rest of property 1).
class Tracker {
 public:
  // The state before the op being checked.
  const std::vector<GroupView>& prev_groups() const { return prev_groups_; }
  const std::vector<NodeView>& prev_nodes() const { return prev_nodes_; }
  void Remember(std::vector<GroupView> groups, std::vector<NodeView> nodes) {
    prev_groups_ = std::move(groups);
    prev_nodes_ = std::move(nodes);
  }

  std::string After(const std::vector<GroupView>& groups, const Op& op, int step) {
    std::map<std::string, std::map<int, Placed>> now;
    std::map<std::string, GroupState> states;
    const std::string removed_node = op.kind == Op::kRemoveNode ? op.name : "";
    for (const GroupView& g : groups) {
      states[g.name] = g.state;
      auto prev_group = placed_.find(g.name);
      // A new group of a reused name (after PurgeRemoved) starts afresh; the
      // old one held nothing once removed.
      bool fresh = op.kind == Op::kCreate && op.group.name == g.name;
      for (const BundlePlacement& p : g.placed) {
        Placed cur{p.node, p.gpus, step};
        if (!fresh && prev_group != placed_.end()) {
          auto it = prev_group->second.find(p.index);
          if (it != prev_group->second.end()) {
            const Placed& was = it->second;
            if (was.node == p.node && was.gpus == p.gpus) {
              cur.epoch = was.epoch;
            } else if (was.node != removed_node) {
              return "group " + g.name + " bundle " + std::to_string(p.index) + " moved from " +
                     was.node + SharesString(was.gpus) + " to " + p.node + SharesString(p.gpus);
            }
          }
        }
        now[g.name][p.index] = cur;
      }
      auto prev_state = states_.find(g.name);
      if (!fresh && prev_state != states_.end() && prev_state->second == GroupState::kCreated &&
          g.state != GroupState::kCreated) {
        bool removed_it = op.kind == Op::kRemoveGroup && op.name == g.name;
        bool lost_node = false;
        if (prev_group != placed_.end()) {
          for (const auto& [b, was] : prev_group->second) lost_node |= was.node == removed_node;
        }
        if (!removed_it && !lost_node) {
          return "group " + g.name + " went from CREATED to " + GroupStateName(g.state) +
                 " on op " + Describe(op);
        }
      }
    }
    // Bundles that are no longer placed.
    for (const auto& [name, bundles] : placed_) {
      auto it = states.find(name);
      bool removed_it = op.kind == Op::kRemoveGroup && op.name == name;
      for (const auto& [b, was] : bundles) {
        bool still = now.count(name) && now[name].count(b);
        if (still || removed_it || was.node == removed_node) continue;
        if (it == states.end()) return "group " + name + " vanished while holding bundles";
        return "group " + name + " bundle " + std::to_string(b) + " on " + was.node +
               " was released by op " + Describe(op);
      }
    }
    placed_ = std::move(now);
    states_ = std::move(states);
    // Ascending devices per (group, node, epoch).
    for (const GroupView& g : groups) {
      std::map<std::pair<std::string, int>, int> last_device;  // (node, epoch) -> last id
      for (const BundlePlacement& p : g.placed) {
        if (g.bundles[p.index].Get("GPU") < Quantity::Whole(1) || p.gpus.empty()) continue;
        auto key = std::make_pair(p.node, placed_[g.name][p.index].epoch);
        auto it = last_device.find(key);
        if (it != last_device.end() && p.gpus.front().device <= it->second) {
          return "group " + g.name + " bundle " + std::to_string(p.index) + " on " + p.node +
                 " got devices " + SharesString(p.gpus) +
                 ", not above those of the group's earlier whole-GPU bundles placed with it";
        }
        last_device[key] = p.gpus.back().device;
      }
    }
    return "";
  }

 private:
  struct Placed {
    std::string node;
    std::vector<GpuShare> gpus;
    int epoch = 0;  // the op that placed it
  };
  std::map<std::string, std::map<int, Placed>> placed_;
  std::map<std::string, GroupState> states_;
  std::vector<GroupView> prev_groups_;
  std::vector<NodeView> prev_nodes_;
};

}  // namespace berth::property_test
