// Reads the cluster and ops files of `berth place` field by field, and applies them.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "formats/place_json.h"
#include "formats/place_json_read.h"

namespace berth::formats {

Status FieldError(std::string_view file, const Path& path, std::string_view what) {
  return InvalidSpec(std::string(file) + ": " + path.ToString() + ": " + std::string(what));
}

Status InFile(std::string_view file, const Status& s) {
  return {s.code(), std::string(file) + ": " + s.message()};
}

std::string Preview(const Json& v) {
  constexpr size_t kMaxString = 60;
  switch (v.type()) {
    case Json::value_t::object:
      return v.empty() ? "{}" : "{...}";
    case Json::value_t::array:
      return v.empty() ? "[]" : "[...]";
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (s.size() <= kMaxString) {
        return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      // The replace handler turns a UTF-8 sequence cut in half into U+FFFD.
      std::string cut =
          Json(s.substr(0, kMaxString)).dump(-1, ' ', false, Json::error_handler_t::replace);
      return cut.insert(cut.size() - 1, "...");
    }
    default:
      return v.dump();
  }
}

Status TypeError(std::string_view file, const Path& path, std::string_view expected,
                 const Json& got) {
  return FieldError(file, path, "must be " + std::string(expected) + ", got " + Preview(got));
}

namespace {

std::string Join(std::initializer_list<std::string_view> items) {
  std::string s;
  for (std::string_view i : items) {
    if (!s.empty()) s += ", ";
    s += i;
  }
  return s;
}

}  // namespace

Status CheckKeys(const Json& obj, const Path& path, std::initializer_list<std::string_view> allowed,
                 std::string_view file) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    return FieldError(file, path,
                      "unknown key " + Preview(Json(it.key())) + "; allowed: " + Join(allowed));
  }
  return Status::Ok();
}

Result<const Json*> Require(const Json& obj, std::string_view key, const Path& path,
                            std::string_view expected, std::string_view file) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return FieldError(file, path.Key(key),
                      "required key is missing; must be " + std::string(expected));
  }
  return &*it;
}

namespace {

Result<std::string> ReadName(const Json& v, const Path& path, std::string_view expected,
                             std::string_view file) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    return TypeError(file, path, expected, v);
  }
  return v.get<std::string>();
}

Result<Quantity> ReadQuantity(const Json& v, const Path& path, std::string_view file) {
  // The Quantity parsers get an empty field name first and the full path only
  // on error: building the path for every valid number costs an allocation.
  switch (v.type()) {
    case Json::value_t::number_unsigned:
      if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return FieldError(file, path, v.dump() + " is above the maximum 1e14");
      }
      [[fallthrough]];
    case Json::value_t::number_integer: {
      int64_t i = v.get<int64_t>();
      Result<Quantity> q = Quantity::FromInteger(i, "");
      if (q) return q;
      return InFile(file, Quantity::FromInteger(i, path.ToString()).error());
    }
    case Json::value_t::number_float: {
      double d = v.get<double>();
      // Say it here to quote the number as written, not as "%f" prints it.
      if (d < 0) return FieldError(file, path, v.dump() + " is negative; quantities must be >= 0");
      if (d > static_cast<double>(Quantity::kMaxUnits) / static_cast<double>(Quantity::kScale)) {
        return FieldError(file, path, v.dump() + " is above the maximum 1e14");
      }
      Result<Quantity> q = Quantity::FromDouble(d, "");
      if (q) return q;
      return InFile(file, Quantity::FromDouble(d, path.ToString()).error());
    }
    default:
      return TypeError(file, path, "a number >= 0", v);
  }
}

enum class Holder { kNode, kBundle };

// {"CPU": 8, "GPU": 0.5}. GPU rules differ: a node has whole devices; a
// bundle asks for whole devices or a share of one.
Result<ResourceSet> ReadResources(const Json& v, const Path& path, Holder holder,
                                  std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, "an object of resource quantities, like {\"CPU\": 1}", v);
  }
  ResourceSet set;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& name = it.key();
    const Path at = path.Key(name);
    if (name.empty()) return FieldError(file, path, "resource name is empty");
    BERTH_ASSIGN_OR_RETURN(Quantity q, ReadQuantity(*it, at, file));
    if (name == kGpu && !q.IsWhole()) {
      if (holder == Holder::kNode) {
        return FieldError(file, at,
                          q.ToString() + " is not whole; a node has a whole number of GPU devices");
      }
      if (q >= Quantity::Whole(1)) {
        return FieldError(file, at,
                          q.ToString() +
                              " is not whole; ask below 1 for a share of one device, "
                              "or a whole number of devices");
      }
    }
    // The json object iterates in key order, which is ResourceSet's order, so
    // this appends.
    set.Set(name, q);
  }
  if (holder == Holder::kBundle && set.AllZero()) {
    return FieldError(file, path,
                      set.ToString() + " asks for nothing; give it at least one non-zero resource");
  }
  return set;
}

// An object of strings: a node's labels, a bundle's label selector.
Result<std::map<std::string, std::string>> ReadStrings(const Json& v, const Path& path,
                                                       std::string_view file) {
  if (!v.is_object()) return TypeError(file, path, "an object of strings", v);
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_string()) return TypeError(file, path.Key(it.key()), "a string", *it);
    out.emplace_hint(out.end(), it.key(), it->get<std::string>());
  }
  return out;
}

Result<NodeSpec> ReadNode(const Json& v, const Path& path, std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, "a node object with name, resources and optional labels", v);
  }
  BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"name", "resources", "labels"}, file));
  NodeSpec node;
  BERTH_ASSIGN_OR_RETURN(const Json* name, Require(v, "name", path, "a non-empty string", file));
  BERTH_ASSIGN_OR_RETURN(node.name, ReadName(*name, path.Key("name"), "a non-empty string", file));
  BERTH_ASSIGN_OR_RETURN(const Json* res,
                         Require(v, "resources", path, "an object like {\"CPU\": 8}", file));
  BERTH_ASSIGN_OR_RETURN(node.resources,
                         ReadResources(*res, path.Key("resources"), Holder::kNode, file));
  auto labels = v.find("labels");
  if (labels != v.end()) {
    BERTH_ASSIGN_OR_RETURN(node.labels, ReadStrings(*labels, path.Key("labels"), file));
  }
  return node;
}

// ---------------------------------------------------------------------------
// Ops.

// {"key": "rack", "mode": "prefer" | "require"}; mode defaults to prefer.
Result<Topology> ReadTopology(const Json& v, const Path& path, std::string_view file) {
  const char* expected = R"x(an object like {"key": "rack", "mode": "require"})x";
  if (!v.is_object()) return TypeError(file, path, expected, v);
  BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"key", "mode"}, file));
  Topology t;
  BERTH_ASSIGN_OR_RETURN(const Json* key, Require(v, "key", path, "a node label name", file));
  BERTH_ASSIGN_OR_RETURN(t.key, ReadName(*key, path.Key("key"), "a node label name", file));
  if (auto mode = v.find("mode"); mode != v.end()) {
    const Path mpath = path.Key("mode");
    if (!mode->is_string()) return TypeError(file, mpath, "prefer or require", *mode);
    Result<Topology::Mode> m = ParseTopologyMode(mode->get<std::string>(), mpath.ToString());
    if (!m) return InFile(file, m.error());
    t.mode = *m;
  }
  return t;
}

constexpr const char* kOpNames = "create, remove, remove_node, add_node";
constexpr const char* kStrategies = "one of PACK, SPREAD, STRICT_PACK, STRICT_SPREAD";

Result<Op> ReadOp(const Json& v, const Path& path, std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, R"(an op object like {"op": "create", ...})", v);
  }
  const std::string op_expected = std::string("one of ") + kOpNames;
  BERTH_ASSIGN_OR_RETURN(const Json* kind, Require(v, "op", path, op_expected, file));
  const Path kpath = path.Key("op");
  if (!kind->is_string()) return TypeError(file, kpath, op_expected, *kind);
  const auto& k = kind->get_ref<const std::string&>();
  Op op;
  if (k == "create") {
    op.kind = Op::Kind::kCreate;
    BERTH_RETURN_IF_ERROR(CheckKeys(
        v, path, {"op", "group", "strategy", "bundles", "bundle_label_selector", "topology"},
        file));
    BERTH_ASSIGN_OR_RETURN(const Json* group, Require(v, "group", path, "a group name", file));
    BERTH_ASSIGN_OR_RETURN(op.group.name,
                           ReadName(*group, path.Key("group"), "a non-empty group name", file));
    BERTH_ASSIGN_OR_RETURN(const Json* strategy, Require(v, "strategy", path, kStrategies, file));
    const Path spath = path.Key("strategy");
    if (!strategy->is_string()) return TypeError(file, spath, kStrategies, *strategy);
    const auto& s = strategy->get_ref<const std::string&>();
    Result<Strategy> parsed = ParseStrategy(s, "");
    if (!parsed) return InFile(file, ParseStrategy(s, spath.ToString()).error());
    op.group.strategy = *parsed;
    BERTH_ASSIGN_OR_RETURN(const Json* bundles,
                           Require(v, "bundles", path, "a non-empty array of bundles", file));
    const Path bpath = path.Key("bundles");
    if (!bundles->is_array() || bundles->empty()) {
      return TypeError(file, bpath, "a non-empty array of bundles, like [{\"GPU\": 1}]", *bundles);
    }
    op.group.bundles.reserve(bundles->size());
    for (size_t b = 0; b < bundles->size(); ++b) {
      BERTH_ASSIGN_OR_RETURN(ResourceSet r,
                             ReadResources((*bundles)[b], bpath.Index(b), Holder::kBundle, file));
      op.group.bundles.push_back(std::move(r));
    }
    if (auto sel = v.find("bundle_label_selector"); sel != v.end()) {
      const Path lpath = path.Key("bundle_label_selector");
      if (!sel->is_array()) {
        return TypeError(file, lpath, R"(an array of one object per bundle, like [{"rack": "a"}])",
                         *sel);
      }
      for (size_t b = 0; b < sel->size(); ++b) {
        BERTH_ASSIGN_OR_RETURN(auto selector, ReadStrings((*sel)[b], lpath.Index(b), file));
        op.group.bundle_label_selector.push_back(std::move(selector));
      }
    }
    if (auto topo = v.find("topology"); topo != v.end()) {
      BERTH_ASSIGN_OR_RETURN(op.group.topology, ReadTopology(*topo, path.Key("topology"), file));
    }
  } else if (k == "remove") {
    op.kind = Op::Kind::kRemove;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "group"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* group, Require(v, "group", path, "a group name", file));
    BERTH_ASSIGN_OR_RETURN(op.name,
                           ReadName(*group, path.Key("group"), "a non-empty group name", file));
  } else if (k == "remove_node") {
    op.kind = Op::Kind::kRemoveNode;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "node"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* node, Require(v, "node", path, "a node name", file));
    BERTH_ASSIGN_OR_RETURN(op.name,
                           ReadName(*node, path.Key("node"), "a non-empty node name", file));
  } else if (k == "add_node") {
    op.kind = Op::Kind::kAddNode;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "node"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* node,
                           Require(v, "node", path, "a node object with name and resources", file));
    BERTH_ASSIGN_OR_RETURN(op.node, ReadNode(*node, path.Key("node"), file));
  } else {
    return FieldError(file, kpath, "unknown op " + Preview(*kind) + "; allowed: " + kOpNames);
  }
  return op;
}

Status OpError(std::string_view file, size_t i, const Status& s) {
  return {s.code(), std::string(file) + ": ops[" + std::to_string(i) + "]: " + s.message()};
}

}  // namespace

Result<std::vector<NodeSpec>> ParseCluster(std::string_view text, std::string_view file) {
  const Path root = Path::Root();
  const Path npath = root.Key("nodes");
  std::vector<NodeSpec> out;
  std::unordered_map<std::string, size_t> seen;  // name -> index
  auto on_node = [&](const Json& element, size_t i) -> Status {
    const Path at = npath.Index(i);
    BERTH_ASSIGN_OR_RETURN(NodeSpec node, ReadNode(element, at, file));
    auto [it, inserted] = seen.emplace(node.name, i);
    if (!inserted) {
      return FieldError(file, at.Key("name"),
                        Preview(Json(node.name)) + " is also the name of nodes[" +
                            std::to_string(it->second) + "]; node names must be unique");
    }
    out.push_back(std::move(node));
    return Status::Ok();
  };
  BERTH_ASSIGN_OR_RETURN(Json doc, ParseText(text, file, "nodes", on_node));
  BERTH_RETURN_IF_ERROR(CheckTop(doc, "nodes", file));
  return out;
}

Status AddNodes(PlacementEngine& engine, const std::vector<NodeSpec>& nodes,
                std::string_view file) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    Status s = engine.AddNode(nodes[i]);
    if (!s.ok()) {
      return {s.code(), std::string(file) + ": nodes[" + std::to_string(i) + "]: " + s.message()};
    }
  }
  return Status::Ok();
}

Result<std::vector<Op>> ParseOps(std::string_view text, std::string_view file) {
  const Path root = Path::Root();
  const Path opath = root.Key("ops");
  std::vector<Op> out;
  auto on_op = [&](const Json& element, size_t i) -> Status {
    BERTH_ASSIGN_OR_RETURN(Op op, ReadOp(element, opath.Index(i), file));
    out.push_back(std::move(op));
    return Status::Ok();
  };
  BERTH_ASSIGN_OR_RETURN(Json doc, ParseText(text, file, "ops", on_op));
  BERTH_RETURN_IF_ERROR(CheckTop(doc, "ops", file));
  return out;
}

Status ApplyOps(PlacementEngine& engine, const std::vector<Op>& ops, std::string_view file) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::Kind::kCreate: {
        Result<GroupState> r = engine.CreateGroup(op.group);
        if (r) break;
        // The engine keeps removed groups (they are reported), so their names
        // stay taken; say so, or "already exists" reads as a contradiction.
        std::optional<GroupView> old = engine.Group(op.group.name);
        if (old && old->state == GroupState::kRemoved) {
          return OpError(
              file, i,
              Status(r.error().code(), r.error().message() +
                                           " (it was removed by an earlier op, and the name of "
                                           "a removed group cannot be used again)"));
        }
        return OpError(file, i, r.error());
      }
      case Op::Kind::kRemove: {
        Status s = engine.RemoveGroup(op.name);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
      case Op::Kind::kRemoveNode: {
        Status s = engine.RemoveNode(op.name);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
      case Op::Kind::kAddNode: {
        Status s = engine.AddNode(op.node);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
    }
  }
  return Status::Ok();
}

}  // namespace berth::formats
