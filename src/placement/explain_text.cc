#include "placement/explain_text.h"

#include <algorithm>
#include <cstdio>

namespace berth::placement {

std::string HumanAmount(const std::string& resource, Quantity q) {
  if (resource != kMemory) return q.ToString();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g GiB", q.ToDouble() / (1 << 30));
  return buf;
}

std::string ShortfallText(const NodeExplanation& n) {
  // explain.cc names a selector term that rules a node out as "label <term>".
  if (n.resource.starts_with("label ")) return "labels: " + n.resource.substr(6);
  return n.resource + " needs " + HumanAmount(n.resource, n.need) + ", " +
         (n.verdict == NodeVerdict::kFullNow ? "has free " : "has ") +
         HumanAmount(n.resource, n.have);
}

std::string ExplanationText(const Explanation& e, std::string_view indent) {
  const std::string pad(indent);
  std::string out = pad + "  nodes: " + std::to_string(e.fits_now) + " fit now, " +
                    std::to_string(e.full_now) + " full now, " + std::to_string(e.never_fits) +
                    " never fit\n";
  size_t width = 0;
  const size_t shown = std::min(e.nodes.size(), kMaxNodesInText);
  for (size_t i = 0; i < shown; ++i) width = std::max(width, e.nodes[i].node.size());
  for (size_t i = 0; i < shown; ++i) {
    const NodeExplanation& n = e.nodes[i];
    std::string line = pad + "    " + n.node + std::string(width - n.node.size(), ' ') + "  " +
                       NodeVerdictName(n.verdict);
    if (n.verdict == NodeVerdict::kFullNow || n.verdict == NodeVerdict::kNeverFits) {
      // Verdicts are at most 10 characters ("never_fits"): align what follows.
      line += std::string(12 - std::string(NodeVerdictName(n.verdict)).size(), ' ');
      line += n.bundle < 0 ? "all bundles" : "bundle " + std::to_string(n.bundle);
      line += ": " + ShortfallText(n);
    }
    out += line + "\n";
  }
  if (e.nodes.size() > shown) {
    out += pad + "    ... and " + std::to_string(e.nodes.size() - shown) + " more nodes\n";
  }
  return out;
}

std::string ErrorText(const Status& error) {
  std::string out = error.message();
  if (const Explanation* e = error.explanation()) {
    out += '\n';
    out += ExplanationText(*e);
    out.pop_back();  // the last '\n'
  }
  return out;
}

// "0-3" for whole devices 0..3, "2:0.5" for a share, "-" for none.
std::string DeviceRanges(const std::vector<GpuShare>& gpus) {
  std::string out;
  for (size_t i = 0; i < gpus.size();) {
    if (!out.empty()) out += ",";
    if (gpus[i].fraction != Quantity::Whole(1)) {
      out += std::to_string(gpus[i].device) + ":" + gpus[i].fraction.ToString();
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < gpus.size() && gpus[j + 1].fraction == Quantity::Whole(1) &&
           gpus[j + 1].device == gpus[j].device + 1) {
      ++j;
    }
    out += std::to_string(gpus[i].device);
    if (j > i) {
      out += '-';
      out += std::to_string(gpus[j].device);
    }
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

}  // namespace berth::placement
