// Writes a group's explanation (why it is not placed, node by node) into the place result.

#include <algorithm>
#include <cstdint>

#include "formats/place_json.h"
#include "formats/place_json_write.h"

namespace berth::formats {

void WriteExplanation(JsonWriter& w, const Explanation& e) {
  w.BeginObject(Layout::kLines);
  w.Key("fits_now");
  w.Int(e.fits_now);
  w.Key("full_now");
  w.Int(e.full_now);
  w.Key("never_fits");
  w.Int(e.never_fits);
  w.Key("nodes");
  w.BeginArray(Layout::kLines);
  const size_t shown = std::min(e.nodes.size(), kMaxExplainedNodes);
  for (size_t i = 0; i < shown; ++i) {
    const NodeExplanation& n = e.nodes[i];
    w.BeginObject(Layout::kInline);
    w.Key("node");
    w.String(n.node);
    w.Key("verdict");
    w.String(NodeVerdictName(n.verdict));
    // The shortfall is only meaningful where the node cannot take the group.
    if (n.verdict == NodeVerdict::kFullNow || n.verdict == NodeVerdict::kNeverFits) {
      w.Key("bundle");
      w.Int(n.bundle);
      w.Key("resource");
      w.String(n.resource);
      w.Key("need");
      w.Number(n.need);
      w.Key("have");
      w.Number(n.have);
    }
    w.EndObject();
  }
  w.EndArray();
  if (e.nodes.size() > shown) {
    w.Key("nodes_omitted");
    w.Int(static_cast<int64_t>(e.nodes.size() - shown));
  }
  w.EndObject();
}

}  // namespace berth::formats
