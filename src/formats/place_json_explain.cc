// The one JSON writer of an Explanation (why a group is not placed, node by
// node): a group's "explain" in `berth place --json`, and the "explain" of an
// error in the control API and the Python module (scheduler's ErrorJson).

#include <algorithm>
#include <cstdint>

#include "formats/place_json.h"
#include "formats/place_json_write.h"

namespace berth::formats {

void WriteExplanation(JsonWriter& w, const Explanation& e) {
  w.BeginObject(Layout::kLines);
  w.Key("group");
  w.String(e.group);
  w.Key("reason_code");
  w.String(ReasonCodeName(e.reason_code));
  w.Key("reason");
  w.String(e.reason);
  w.Key("hint");
  w.String(e.hint);
  // The shortfall the reason names: the bundle (-1: the group as a whole),
  // and where one resource is short, how much is needed and the most there is.
  w.Key("bundle");
  w.Int(e.bundle);
  if (!e.resource.empty()) {
    if (!e.node.empty()) {
      w.Key("node");
      w.String(e.node);
    }
    w.Key("resource");
    w.String(e.resource);
    w.Key("need");
    w.Number(e.need);
    w.Key("have");
    w.Number(e.have);
  }
  if (!e.lost.empty()) {
    w.Key("lost");
    w.BeginArray(Layout::kInline);
    for (int b : e.lost) w.Int(b);
    w.EndArray();
  }
  if (e.budget_exhausted) {
    w.Key("budget_exhausted");
    w.Bool(true);
  }
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

std::string ExplanationJson(const Explanation& e) {
  std::string out;
  JsonWriter w(out, /*pretty=*/false);
  WriteExplanation(w, e);
  return out;
}

}  // namespace berth::formats
