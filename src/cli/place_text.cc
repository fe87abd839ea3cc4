#include "cli/place_text.h"

#include <algorithm>
#include <cstdio>

#include "placement/explain_text.h"

namespace berth::cli {
namespace {

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string Placements(const std::vector<BundlePlacement>& placed) {
  std::string out;
  for (const BundlePlacement& p : placed) {
    if (!out.empty()) out += "  ";
    out += "#" + std::to_string(p.index) + " " + p.node + " gpu " + placement::DeviceRanges(p.gpus);
  }
  return out;
}

}  // namespace

std::string RenderText(const PlacementEngine& engine) {
  std::string out = "GROUPS\n";
  size_t width = 5;
  std::vector<GroupView> groups = engine.Groups();
  for (const GroupView& g : groups) width = std::max(width, g.name.size());
  out += "  " + Pad("GROUP", width) + "  " + Pad("STRATEGY", 13) + "  " + Pad("STATE", 12) +
         "  BUNDLES (index node gpu-devices)\n";
  for (const GroupView& g : groups) {
    out += "  " + Pad(g.name, width) + "  " + Pad(StrategyName(g.strategy), 13) + "  " +
           Pad(GroupStateName(g.state), 12) + "  ";
    if (g.state == GroupState::kCreated) {
      out += Placements(g.placed);
    } else if (g.state == GroupState::kRescheduling) {
      out += "holds " + Placements(g.placed);
    } else {
      out += "-";
    }
    out += "\n";
    if (g.state == GroupState::kCreated || g.state == GroupState::kRemoved) continue;
    std::optional<Explanation> why = engine.Explain(g.name);
    if (why) {
      // The reason, then the per-node lines under it (explain_text renders both
      // here and in every error).
      const std::string indent(width + 2, ' ');
      out += "  " + std::string(width, ' ') + "  why: " + why->reason + "\n";
      out += placement::ExplanationText(*why, indent);
    }
  }
  out += "\nNODES\n";
  for (const NodeView& n : engine.Nodes()) {
    out += "  " + n.name + "  free";
    for (const auto& [name, q] : n.available.items()) {
      std::string total = n.total.Get(name).ToString();
      std::string free = q.ToString();
      if (name == kMemory) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.1f/%.1f GiB", q.ToDouble() / (1 << 30),
                      n.total.Get(name).ToDouble() / (1 << 30));
        out += " " + name + " " + buf;
      } else {
        out += " " + name + " " + free + "/" + total;
      }
    }
    if (!n.gpus.empty()) {
      out += "  devices [";
      for (const auto& gpu : n.gpus) {
        const Quantity& f = gpu.free;
        out += f == Quantity::Whole(1) ? "." : f.IsZero() ? "#" : "+";
      }
      out += "]";
    }
    out += "\n";
  }
  out += "\n  devices: '.' free, '+' partly used, '#' fully used\n";
  return out;
}

}  // namespace berth::cli
