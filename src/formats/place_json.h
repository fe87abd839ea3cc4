#pragma once
// The JSON adapter of `berth place`: reads a cluster file and an ops file,
// applies the ops to a PlacementEngine, and writes the engine's final state.
//
// Every error is a Status whose message starts with the file name and the
// path of the offending field, e.g.
//   ops.json: ops[3].bundles[1].GPU: 1.5 is not whole; ...
// so that a person can go straight to it. nlohmann::json exceptions never
// leave this adapter.

#include <string>
#include <string_view>
#include <vector>

#include "berth/placement.h"
#include "berth/status.h"

namespace berth::formats {

// {"nodes": [{"name": "n0", "resources": {"CPU": 64, "GPU": 8},
//             "labels": {"rack": "a"}}]}
// Checks the fields (names unique and non-empty, quantities >= 0, GPU whole);
// the engine checks the rest when the nodes are added.
Result<std::vector<NodeSpec>> ParseCluster(std::string_view text, std::string_view file);

// Adds the nodes in order. An engine error names the node's index:
// "cluster.json: nodes[2]: node ...".
Status AddNodes(PlacementEngine& engine, const std::vector<NodeSpec>& nodes, std::string_view file);

// One entry of the ops file.
struct Op {
  enum class Kind { kCreate, kRemove, kRemoveNode, kAddNode };
  Kind kind = Kind::kCreate;
  GroupSpec group;   // kCreate
  std::string name;  // kRemove: the group; kRemoveNode: the node
  NodeSpec node;     // kAddNode
};

// {"ops": [{"op": "create", "group": "g0", "strategy": "PACK",
//           "bundles": [{"CPU": 1, "GPU": 1}]},
//          {"op": "remove", "group": "g0"},
//          {"op": "remove_node", "node": "n0"},
//          {"op": "add_node", "node": {"name": "n9", "resources": {"CPU": 8}}}]}
// Returns one Op per entry, in order, so that ops[i] is the i-th entry.
Result<std::vector<Op>> ParseOps(std::string_view text, std::string_view file);

// Applies the ops in order and stops at the first error, which names the op:
// "ops.json: ops[4]: group \"g0\" does not exist".
Status ApplyOps(PlacementEngine& engine, const std::vector<Op>& ops, std::string_view file);

// The engine's state as one JSON document: groups in creation order, each
// with its placements (or why it is not placed), then the live nodes with
// what they have left. Deterministic: the same engine state gives the same
// bytes.
enum class JsonStyle { kPretty, kCompact };
std::string RenderState(const PlacementEngine& engine, JsonStyle style = JsonStyle::kPretty);

// A group's explanation as one compact JSON object, the same as its "explain"
// in RenderState: {"group", "reason_code" (ReasonCodeName), "reason", "hint",
// "bundle", then "node", "resource", "need", "have" where one resource is
// short ("node" absent for the whole cluster), "lost" (RESCHEDULING),
// "budget_exhausted" (only when true), "fits_now", "full_now", "never_fits",
// "nodes": [{"node", "verdict", and for full_now / never_fits "bundle",
// "resource", "need", "have"}], "nodes_omitted" (beyond kMaxExplainedNodes)}.
std::string ExplanationJson(const Explanation& e);

// Explanations list at most this many nodes; the rest are counted in
// "nodes_omitted", so that the output stays linear in the number of groups.
inline constexpr size_t kMaxExplainedNodes = 100;

}  // namespace berth::formats
