// Renders a PlacementEngine's state as the JSON result document of `berth place`.

#include <optional>
#include <string>
#include <vector>

#include "formats/place_json.h"
#include "formats/place_json_write.h"

namespace berth::formats {
namespace {

void WriteResources(JsonWriter& w, const ResourceSet& r) {
  w.BeginObject(Layout::kInline);
  for (const auto& [name, q] : r.items()) {
    w.Key(name);
    w.Number(q);
  }
  w.EndObject();
}

void WritePlacements(JsonWriter& w, const std::vector<BundlePlacement>& placed) {
  w.BeginArray(Layout::kLines);
  for (const BundlePlacement& p : placed) {
    w.BeginObject(Layout::kInline);
    w.Key("index");
    w.Int(p.index);
    w.Key("node");
    w.String(p.node);
    w.Key("gpus");
    w.BeginArray(Layout::kInline);
    for (const GpuShare& s : p.gpus) {
      w.BeginObject(Layout::kInline);
      w.Key("id");
      w.Int(s.device);
      w.Key("fraction");
      w.Number(s.fraction);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void WriteGroup(JsonWriter& w, const PlacementEngine& engine, const GroupView& g) {
  w.BeginObject(Layout::kLines);
  w.Key("group");
  w.String(g.name);
  w.Key("strategy");
  w.String(StrategyName(g.strategy));
  w.Key("state");
  w.String(GroupStateName(g.state));
  const bool created = g.state == GroupState::kCreated;
  w.Key("bundles");
  WritePlacements(w, created ? g.placed : std::vector<BundlePlacement>());
  if (g.state == GroupState::kRescheduling) {
    w.Key("held");
    WritePlacements(w, g.placed);
  }
  if (created && !g.domain.empty()) {
    w.Key("domain");
    w.String(g.domain);
  }
  if (created && g.across_domains) {
    w.Key("across_domains");
    w.Bool(true);
  }
  std::optional<Explanation> e;
  if (!created && g.state != GroupState::kRemoved) e = engine.Explain(g.name);
  w.Key("reason");
  w.String(e ? e->reason : std::string());
  w.Key("explain");
  if (e) {
    WriteExplanation(w, *e);
  } else {
    w.EmptyObject();
  }
  w.EndObject();
}

void WriteNode(JsonWriter& w, const NodeView& n) {
  w.BeginObject(Layout::kLines);
  w.Key("name");
  w.String(n.name);
  w.Key("available");
  WriteResources(w, n.available);
  w.Key("gpus");
  w.BeginArray(Layout::kLines);
  for (const DeviceView& d : n.gpus) {
    w.BeginObject(Layout::kInline);
    w.Key("id");
    w.Int(d.id);
    w.Key("free");
    w.Number(d.free);
    w.EndObject();
  }
  w.EndArray();
  if (!n.labels.empty()) {
    w.Key("labels");
    w.BeginObject(Layout::kInline);
    for (const auto& [k, v] : n.labels) {
      w.Key(k);
      w.String(v);
    }
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

std::string RenderState(const PlacementEngine& engine, JsonStyle style) {
  std::string out;
  JsonWriter w(out, style == JsonStyle::kPretty);
  w.BeginObject(Layout::kLines);
  w.Key("groups");
  w.BeginArray(Layout::kLines);
  for (const GroupView& g : engine.Groups()) WriteGroup(w, engine, g);
  w.EndArray();
  w.Key("nodes");
  w.BeginArray(Layout::kLines);
  for (const NodeView& n : engine.Nodes()) WriteNode(w, n);
  w.EndArray();
  w.EndObject();
  out += '\n';
  return out;
}

}  // namespace berth::formats
