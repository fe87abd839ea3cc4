#include "formats/place_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::formats {
namespace {

using Json = nlohmann::json;

// The error message of a result that must have failed.
template <typename T>
std::string ErrorOf(const Result<T>& r) {
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? std::string("<no error>") : r.error().message();
}

std::string OpsError(const std::string& text) { return ErrorOf(ParseOps(text, "ops.json")); }
std::string ClusterError(const std::string& text) {
  return ErrorOf(ParseCluster(text, "cluster.json"));
}

// One create op with the given bundles text, for quantity checks.
std::string CreateWith(const std::string& bundles) {
  return R"({"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": )" + bundles +
         "}]}";
}

Quantity Q(double v) { return *Quantity::FromDouble(v, "test"); }

// ---------------------------------------------------------------------------
// Cluster file.

TEST(ParseClusterTest, ParsesNodesResourcesAndLabels) {
  auto nodes = ParseCluster(R"({"nodes": [
      {"name": "n0", "resources": {"CPU": 64, "GPU": 8, "memory": 1099511627776},
       "labels": {"rack": "a"}},
      {"name": "n1", "resources": {"CPU": 0.5}}]})",
                            "cluster.json");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().message();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].name, "n0");
  EXPECT_EQ((*nodes)[0].resources,
            (ResourceSet{{"CPU", Q(64)}, {"GPU", Q(8)}, {"memory", Q(1099511627776.0)}}));
  EXPECT_EQ((*nodes)[0].labels, (std::map<std::string, std::string>{{"rack", "a"}}));
  EXPECT_EQ((*nodes)[1].resources, (ResourceSet{{"CPU", Q(0.5)}}));
  EXPECT_TRUE((*nodes)[1].labels.empty());
}

TEST(ParseClusterTest, AcceptsAnEmptyCluster) {
  auto nodes = ParseCluster(R"({"nodes": []})", "cluster.json");
  ASSERT_TRUE(nodes.has_value());
  EXPECT_TRUE(nodes->empty());
}

TEST(ParseClusterTest, RejectsDuplicateNodeNames) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "a", "resources": {}},
                                       {"name": "b", "resources": {}},
                                       {"name": "a", "resources": {}}]})"),
            "cluster.json: nodes[2].name: \"a\" is also the name of nodes[0]; node names must be "
            "unique");
}

TEST(ParseClusterTest, RejectsMissingResources) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "a"}]})"),
            "cluster.json: nodes[0].resources: required key is missing; must be an object like "
            "{\"CPU\": 8}");
}

TEST(ParseClusterTest, RejectsEmptyNodeName) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "", "resources": {}}]})"),
            "cluster.json: nodes[0].name: must be a non-empty string, got \"\"");
}

TEST(ParseClusterTest, RejectsFractionalNodeGpu) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "a", "resources": {"GPU": 7.5}}]})"),
            "cluster.json: nodes[0].resources.GPU: 7.5 is not whole; a node has a whole number "
            "of GPU devices");
}

TEST(ParseClusterTest, RejectsUnknownNodeKey) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "a", "resources": {}, "label": {}}]})"),
            "cluster.json: nodes[0]: unknown key \"label\"; allowed: name, resources, labels");
}

TEST(ParseClusterTest, RejectsNonStringLabel) {
  EXPECT_EQ(ClusterError(R"({"nodes": [{"name": "a", "resources": {}, "labels": {"rack": 1}}]})"),
            "cluster.json: nodes[0].labels.rack: must be a string, got 1");
}

TEST(ParseClusterTest, QuotesKeysThatAreNotPlainInPaths) {
  EXPECT_EQ(
      ClusterError(R"({"nodes": [{"name": "a", "resources": {"my.gpu": -1}}]})"),
      "cluster.json: nodes[0].resources[\"my.gpu\"]: -1 is negative; quantities must be >= 0");
}

TEST(ParseClusterTest, RejectsWrongTopLevel) {
  EXPECT_EQ(ClusterError("[]"),
            "cluster.json: top level: must be an object like {\"nodes\": [...]}, got []");
  EXPECT_EQ(ClusterError(R"({"node": []})"),
            "cluster.json: top level: unknown key \"node\"; allowed: nodes");
  EXPECT_EQ(ClusterError("{}"), "cluster.json: nodes: required key is missing; must be an array");
  EXPECT_EQ(ClusterError(R"({"nodes": {}})"), "cluster.json: nodes: must be an array, got {}");
}

TEST(ParseClusterTest, ReportsMalformedJsonWithLineAndColumn) {
  EXPECT_EQ(ClusterError("{\"nodes\": [\n  {\"name\": \"a\",}\n]}"),
            "cluster.json: line 2, column 16: malformed JSON: syntax error while parsing object "
            "key - unexpected '}'; expected string literal");
}

TEST(ParseClusterTest, ReportsEmptyInput) {
  EXPECT_NE(ClusterError("").find("cluster.json: line 1, column 1: malformed JSON: "),
            std::string::npos);
}

TEST(AddNodesTest, EngineErrorNamesTheNode) {
  auto nodes = ParseCluster(R"({"nodes": [{"name": "a", "resources": {}},
                                           {"name": "b", "resources": {"GPU": 2000}}]})",
                            "cluster.json");
  ASSERT_TRUE(nodes.has_value());
  PlacementEngine engine;
  Status s = AddNodes(engine, *nodes, "cluster.json");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(s.message(),
            "cluster.json: nodes[1]: node \"b\": GPU 2000 is above the limit of 1024 devices per "
            "node");
}

// ---------------------------------------------------------------------------
// Ops file.

TEST(ParseOpsTest, ParsesEveryKindOfOp) {
  auto ops = ParseOps(R"({"ops": [
      {"op": "create", "group": "g0", "strategy": "STRICT_SPREAD",
       "bundles": [{"CPU": 1, "GPU": 1}, {"CPU": 2, "GPU": 0.5}]},
      {"op": "remove", "group": "g0"},
      {"op": "remove_node", "node": "n0"},
      {"op": "add_node", "node": {"name": "n9", "resources": {"CPU": 8}, "labels": {"r": "x"}}}]})",
                      "ops.json");
  ASSERT_TRUE(ops.has_value()) << ops.error().message();
  ASSERT_EQ(ops->size(), 4u);
  EXPECT_EQ((*ops)[0].kind, Op::Kind::kCreate);
  EXPECT_EQ((*ops)[0].group.name, "g0");
  EXPECT_EQ((*ops)[0].group.strategy, Strategy::kStrictSpread);
  EXPECT_EQ((*ops)[0].group.bundles, (std::vector<ResourceSet>{{{"CPU", Q(1)}, {"GPU", Q(1)}},
                                                               {{"CPU", Q(2)}, {"GPU", Q(0.5)}}}));
  EXPECT_EQ((*ops)[1].kind, Op::Kind::kRemove);
  EXPECT_EQ((*ops)[1].name, "g0");
  EXPECT_EQ((*ops)[2].kind, Op::Kind::kRemoveNode);
  EXPECT_EQ((*ops)[2].name, "n0");
  EXPECT_EQ((*ops)[3].kind, Op::Kind::kAddNode);
  EXPECT_EQ((*ops)[3].node, (NodeSpec{"n9", ResourceSet{{"CPU", Q(8)}}, {{"r", "x"}}}));
}

TEST(ParseOpsTest, AcceptsWholeFloatsAndZeroEntries) {
  auto ops = ParseOps(CreateWith(R"([{"CPU": 2.0, "GPU": 0, "memory": 1e3}])"), "ops.json");
  ASSERT_TRUE(ops.has_value()) << ops.error().message();
  EXPECT_EQ((*ops)[0].group.bundles[0],
            (ResourceSet{{"CPU", Q(2)}, {"GPU", Q(0)}, {"memory", Q(1000)}}));
}

TEST(ParseOpsTest, RejectsUnknownStrategy) {
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "strategy": "FOO",
                                   "bundles": [{"CPU": 1}]}]})"),
            "ops.json: ops[0].strategy: unknown strategy \"FOO\"; allowed: PACK, SPREAD, "
            "STRICT_PACK, STRICT_SPREAD");
}

TEST(ParseOpsTest, RejectsMissingStrategy) {
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "bundles": [{"CPU": 1}]}]})"),
            "ops.json: ops[0].strategy: required key is missing; must be one of PACK, SPREAD, "
            "STRICT_PACK, STRICT_SPREAD");
}

TEST(ParseOpsTest, RejectsNonStringStrategy) {
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "strategy": 3,
                                   "bundles": [{"CPU": 1}]}]})"),
            "ops.json: ops[0].strategy: must be one of PACK, SPREAD, STRICT_PACK, STRICT_SPREAD, "
            "got 3");
}

TEST(ParseOpsTest, RejectsUnknownOp) {
  EXPECT_EQ(
      OpsError(R"({"ops": [{"op": "remove", "group": "a"}, {"op": "delete", "group": "g"}]})"),
      "ops.json: ops[1].op: unknown op \"delete\"; allowed: create, remove, remove_node, "
      "add_node");
}

TEST(ParseOpsTest, RejectsMissingOp) {
  EXPECT_EQ(OpsError(R"({"ops": [{}]})"),
            "ops.json: ops[0].op: required key is missing; must be one of create, remove, "
            "remove_node, add_node");
}

TEST(ParseOpsTest, RejectsUnknownKey) {
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "stratgy": "PACK",
                                   "bundles": [{"CPU": 1}]}]})"),
            "ops.json: ops[0]: unknown key \"stratgy\"; allowed: op, group, strategy, bundles, "
            "bundle_label_selector, topology");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove", "group": "g", "strategy": "PACK"}]})"),
            "ops.json: ops[0]: unknown key \"strategy\"; allowed: op, group");
  EXPECT_EQ(OpsError(R"({"ops": [], "op": []})"),
            "ops.json: top level: unknown key \"op\"; allowed: ops");
}

TEST(ParseOpsTest, RejectsDuplicateKeys) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 1}, {"GPU": 1, "CPU": 1, "GPU": 2}])")),
            "ops.json: ops[0].bundles[1]: key \"GPU\" appears more than once; give each key once");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove", "group": "a", "group": "b"}]})"),
            "ops.json: ops[0]: key \"group\" appears more than once; give each key once");
  // Ops are checked as they are read; the index still counts from the start.
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove", "group": "a"},
                                 {"op": "remove", "group": "b"},
                                 {"op": "remove", "group": "c", "op": "remove"}]})"),
            "ops.json: ops[2]: key \"op\" appears more than once; give each key once");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove", "group": "a"},
                                 {"op": "add_node", "node": {"name": "n", "resources": {"labels": 1},
                                  "labels": {"a": "b", "a": "c"}}}]})"),
            "ops.json: ops[1].node.labels: key \"a\" appears more than once; give each key once");
  EXPECT_EQ(OpsError(R"({"ops": [], "ops": []})"),
            "ops.json: top level: key \"ops\" appears more than once; give each key once");
}

TEST(ParseOpsTest, RejectsNegativeQuantity) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": -1}])")),
            "ops.json: ops[0].bundles[0].CPU: -1 is negative; quantities must be >= 0");
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 1}, {"GPU": -0.5}])")),
            "ops.json: ops[0].bundles[1].GPU: -0.5 is negative; quantities must be >= 0");
}

TEST(ParseOpsTest, RejectsNonNumericQuantity) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": "8"}])")),
            "ops.json: ops[0].bundles[0].CPU: must be a number >= 0, got \"8\"");
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": true}])")),
            "ops.json: ops[0].bundles[0].CPU: must be a number >= 0, got true");
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": null}])")),
            "ops.json: ops[0].bundles[0].CPU: must be a number >= 0, got null");
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": [1]}])")),
            "ops.json: ops[0].bundles[0].CPU: must be a number >= 0, got [...]");
}

TEST(ParseOpsTest, ShortensLongValuesInErrors) {
  std::string err = OpsError(CreateWith(R"([{"CPU": ")" + std::string(500, 'x') + R"("}])"));
  EXPECT_EQ(err, "ops.json: ops[0].bundles[0].CPU: must be a number >= 0, got \"" +
                     std::string(60, 'x') + "...\"");
}

TEST(ParseOpsTest, RejectsGpuAboveOneThatIsNotWhole) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 1}, {"GPU": 1.5}])")),
            "ops.json: ops[0].bundles[1].GPU: 1.5 is not whole; ask below 1 for a share of one "
            "device, or a whole number of devices");
}

TEST(ParseOpsTest, AcceptsGpuShareBelowOne) {
  auto ops = ParseOps(CreateWith(R"([{"GPU": 0.25}])"), "ops.json");
  ASSERT_TRUE(ops.has_value()) << ops.error().message();
  EXPECT_EQ((*ops)[0].group.bundles[0].Get("GPU"), Q(0.25));
}

TEST(ParseOpsTest, RejectsQuantityFinerThanResolution) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 0.00001}])")),
            "ops.json: ops[0].bundles[0].CPU: 1e-05 is finer than the resolution 0.0001; round "
            "it to 4 decimal places");
}

TEST(ParseOpsTest, RejectsQuantityAboveMaximum) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"memory": 1000000000000000}])")),
            "ops.json: ops[0].bundles[0].memory: 1000000000000000 is above the maximum 1e14");
  EXPECT_EQ(OpsError(CreateWith(R"([{"memory": 1e15}])")),
            "ops.json: ops[0].bundles[0].memory: 1e+15 is above the maximum 1e14");
  EXPECT_EQ(OpsError(CreateWith(R"([{"memory": 18446744073709551615}])")),
            "ops.json: ops[0].bundles[0].memory: 18446744073709551615 is above the maximum 1e14");
}

TEST(ParseOpsTest, RejectsEmptyBundleList) {
  EXPECT_EQ(OpsError(CreateWith("[]")),
            "ops.json: ops[0].bundles: must be a non-empty array of bundles, like [{\"GPU\": 1}], "
            "got []");
}

TEST(ParseOpsTest, RejectsBundleThatAsksForNothing) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 1}, {}])")),
            "ops.json: ops[0].bundles[1]: {} asks for nothing; give it at least one non-zero "
            "resource");
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 0}])")),
            "ops.json: ops[0].bundles[0]: {CPU: 0} asks for nothing; give it at least one "
            "non-zero resource");
}

TEST(ParseOpsTest, RejectsEmptyResourceName) {
  EXPECT_EQ(OpsError(CreateWith(R"([{"": 1}])")),
            "ops.json: ops[0].bundles[0]: resource name is empty");
}

TEST(ParseOpsTest, RejectsMissingKeys) {
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "strategy": "PACK", "bundles": [{"CPU": 1}]}]})"),
            "ops.json: ops[0].group: required key is missing; must be a group name");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "strategy": "PACK"}]})"),
            "ops.json: ops[0].bundles: required key is missing; must be a non-empty array of "
            "bundles");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove_node"}]})"),
            "ops.json: ops[0].node: required key is missing; must be a node name");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "add_node", "node": {"resources": {}}}]})"),
            "ops.json: ops[0].node.name: required key is missing; must be a non-empty string");
}

TEST(ParseOpsTest, RejectsWrongTypes) {
  EXPECT_EQ(OpsError(R"({"ops": {}})"), "ops.json: ops: must be an array, got {}");
  EXPECT_EQ(OpsError(R"({"ops": [1]})"),
            "ops.json: ops[0]: must be an op object like {\"op\": \"create\", ...}, got 1");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": 1}]})"),
            "ops.json: ops[0].op: must be one of create, remove, remove_node, add_node, got 1");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove", "group": 7}]})"),
            "ops.json: ops[0].group: must be a non-empty group name, got 7");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "create", "group": "g", "strategy": "PACK",
                                   "bundles": {"CPU": 1}}]})"),
            "ops.json: ops[0].bundles: must be a non-empty array of bundles, like [{\"GPU\": "
            "1}], got {...}");
  EXPECT_EQ(OpsError(CreateWith("[[1]]")),
            "ops.json: ops[0].bundles[0]: must be an object of resource quantities, like "
            "{\"CPU\": 1}, got [...]");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "remove_node", "node": {"name": "n"}}]})"),
            "ops.json: ops[0].node: must be a non-empty node name, got {...}");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "add_node", "node": "n"}]})"),
            "ops.json: ops[0].node: must be a node object with name, resources and optional "
            "labels, got \"n\"");
  EXPECT_EQ(OpsError(R"({"ops": [{"op": "add_node", "node": {"name": "n", "resources": []}}]})"),
            "ops.json: ops[0].node.resources: must be an object of resource quantities, like "
            "{\"CPU\": 1}, got []");
}

TEST(ParseOpsTest, ReportsMalformedJson) {
  EXPECT_EQ(OpsError("{\"ops\": [\n{\"op\": \"remove\" \"group\": \"g\"}]}"),
            "ops.json: line 2, column 23: malformed JSON: syntax error while parsing object - "
            "unexpected string literal; expected '}'");
  EXPECT_EQ(
      OpsError(R"({"ops": []} trailing)").rfind("ops.json: line 1, column 15: malformed JSON: ", 0),
      0u);
  EXPECT_EQ(OpsError(CreateWith(R"([{"CPU": 1e400}])")),
            "ops.json: malformed JSON at byte 85: number overflow parsing '1e400'");
}

// ---------------------------------------------------------------------------
// Applying ops.

// Parses both files (which must be valid) and applies the ops.
Status ParseAndApply(PlacementEngine& engine, const std::string& cluster, const std::string& ops) {
  auto nodes = ParseCluster(cluster, "cluster.json");
  EXPECT_TRUE(nodes.has_value()) << nodes.error().message();
  auto parsed = ParseOps(ops, "ops.json");
  EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
  if (!nodes || !parsed) return Internal("bad test input");
  BERTH_RETURN_IF_ERROR(AddNodes(engine, *nodes, "cluster.json"));
  return ApplyOps(engine, *parsed, "ops.json");
}

constexpr const char* kTwoNodes =
    R"({"nodes": [{"name": "n0", "resources": {"CPU": 8, "GPU": 2, "memory": 1000}},
                  {"name": "n1", "resources": {"CPU": 4, "GPU": 1}, "labels": {"rack": "b"}}]})";

TEST(ApplyOpsTest, RemovingAnUnknownGroupNamesTheOp) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "g0", "strategy": "PACK", "bundles": [{"CPU": 1}]},
      {"op": "remove", "group": "g1"}]})");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "ops.json: ops[1]: group \"g1\" does not exist");
}

TEST(ApplyOpsTest, RemovingAnUnknownNodeNamesTheOp) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [{"op": "remove_node", "node": "n7"}]})");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "ops.json: ops[0]: node \"n7\" does not exist (or was removed already)");
}

TEST(ApplyOpsTest, RejectsDuplicateGroupName) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "g0", "strategy": "PACK", "bundles": [{"CPU": 1}]},
      {"op": "create", "group": "g0", "strategy": "PACK", "bundles": [{"CPU": 1}]}]})");
  EXPECT_EQ(s.message(),
            "ops.json: ops[1]: group \"g0\" already exists; group names must be unique");
}

TEST(ApplyOpsTest, ExplainsWhyARemovedGroupNameIsTaken) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "g0", "strategy": "PACK", "bundles": [{"CPU": 1}]},
      {"op": "remove", "group": "g0"},
      {"op": "create", "group": "g0", "strategy": "PACK", "bundles": [{"CPU": 1}]}]})");
  EXPECT_EQ(s.message(),
            "ops.json: ops[2]: group \"g0\" already exists; group names must be unique (it was "
            "removed by an earlier op, and the name of a removed group cannot be used again)");
}

TEST(ApplyOpsTest, RejectsDuplicateNodeName) {
  PlacementEngine engine;
  Status s =
      ParseAndApply(engine, kTwoNodes,
                    R"({"ops": [{"op": "add_node", "node": {"name": "n1", "resources": {}}}]})");
  EXPECT_EQ(s.message(), "ops.json: ops[0]: node \"n1\" already exists; node names must be unique");
}

TEST(ApplyOpsTest, ARemovedNodeNameCanBeAddedAgain) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "remove_node", "node": "n1"},
      {"op": "add_node", "node": {"name": "n1", "resources": {"CPU": 2}}}]})");
  EXPECT_TRUE(s.ok()) << s.message();
}

// ---------------------------------------------------------------------------
// Output.

Json Render(const PlacementEngine& engine) { return Json::parse(RenderState(engine)); }

TEST(RenderStateTest, SmallScenario) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "a", "strategy": "PACK",
       "bundles": [{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 0.5}]},
      {"op": "create", "group": "b", "strategy": "STRICT_SPREAD", "bundles": [{"GPU": 1}, {"GPU": 1}]},
      {"op": "create", "group": "c", "strategy": "STRICT_PACK", "bundles": [{"GPU": 2}, {"GPU": 2}]},
      {"op": "create", "group": "d", "strategy": "SPREAD", "bundles": [{"CPU": 0.25}]},
      {"op": "create", "group": "e", "strategy": "PACK", "bundles": [{"CPU": 1}]},
      {"op": "remove", "group": "e"}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string text = RenderState(engine);
  const Json out = Json::parse(text);

  const Json& groups = out["groups"];
  ASSERT_EQ(groups.size(), 5u);
  // Creation order, each group once, with its last state.
  EXPECT_EQ(groups[0]["group"], "a");
  EXPECT_EQ(groups[0]["strategy"], "PACK");
  EXPECT_EQ(groups[0]["state"], "CREATED");
  EXPECT_EQ(groups[0]["bundles"], Json::parse(R"([
      {"index": 0, "node": "n0", "gpus": [{"id": 0, "fraction": 1}]},
      {"index": 1, "node": "n0", "gpus": [{"id": 1, "fraction": 0.5}]}])"));
  EXPECT_EQ(groups[0]["reason"], "");
  EXPECT_EQ(groups[0]["explain"], Json::object());
  EXPECT_FALSE(groups[0].contains("held"));

  // n0 has half a device left, so a STRICT_SPREAD of whole devices waits.
  EXPECT_EQ(groups[1]["state"], "PENDING");
  EXPECT_EQ(groups[1]["bundles"], Json::array());
  EXPECT_EQ(groups[1]["reason"],
            "STRICT_SPREAD needs 2 distinct nodes with room now, but only 1 can take one of its "
            "bundles; it is placed when capacity is released or a node is added");
  EXPECT_EQ(groups[1]["explain"], Json::parse(R"({
      "group": "b", "reason_code": "strict_spread_nodes_busy",
      "reason": "STRICT_SPREAD needs 2 distinct nodes with room now, but only 1 can take one of its bundles; it is placed when capacity is released or a node is added",
      "hint": "it is placed when capacity is released or a node is added",
      "bundle": -1, "resource": "nodes", "need": 2, "have": 1,
      "fits_now": 1, "full_now": 1, "never_fits": 0,
      "nodes": [{"node": "n0", "verdict": "full_now", "bundle": 0, "resource": "GPU",
                 "need": 1, "have": 0},
                {"node": "n1", "verdict": "fits_now"}]})"));

  EXPECT_EQ(groups[2]["state"], "INFEASIBLE");
  EXPECT_EQ(groups[2]["reason"],
            "STRICT_PACK puts all 2 bundles on one node and needs GPU 4, but the most any node "
            "has is GPU 2 (n0); use PACK, or add a node with GPU 4 or more");
  // bundle -1: STRICT_PACK is checked as the group's sum.
  EXPECT_EQ(groups[2]["explain"]["nodes"][0], Json::parse(R"(
      {"node": "n0", "verdict": "never_fits", "bundle": -1, "resource": "GPU",
       "need": 4, "have": 2})"));

  EXPECT_EQ(groups[3]["state"], "CREATED");
  EXPECT_EQ(groups[3]["bundles"], Json::parse(R"([{"index": 0, "node": "n0", "gpus": []}])"));

  EXPECT_EQ(groups[4], Json::parse(R"({"group": "e", "strategy": "PACK", "state": "REMOVED",
                                       "bundles": [], "reason": "", "explain": {}})"));

  EXPECT_EQ(out["nodes"], Json::parse(R"([
      {"name": "n0", "available": {"CPU": 5.75, "GPU": 0.5, "memory": 1000},
       "gpus": [{"id": 0, "free": 0}, {"id": 1, "free": 0.5}]},
      {"name": "n1", "available": {"CPU": 4, "GPU": 1}, "gpus": [{"id": 0, "free": 1}],
       "labels": {"rack": "b"}}])"));

  // Key order as documented, whole numbers as integers, shares as short decimals.
  EXPECT_NE(text.find(R"({"index": 1, "node": "n0", "gpus": [{"id": 1, "fraction": 0.5}]})"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"("available": {"CPU": 5.75, "GPU": 0.5, "memory": 1000})"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("\"group\": \"a\""), text.find("\"state\": \"CREATED\""));
}

TEST(RenderStateTest, ReschedulingGroupShowsWhatItHolds) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, R"({"nodes": [{"name": "n0", "resources": {"GPU": 1}},
                                       {"name": "n1", "resources": {"GPU": 1}}]})",
                           R"({"ops": [
      {"op": "create", "group": "s", "strategy": "STRICT_SPREAD", "bundles": [{"GPU": 1}, {"GPU": 1}]},
      {"op": "remove_node", "node": "n1"}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  Json g = Render(engine)["groups"][0];
  EXPECT_EQ(g["state"], "RESCHEDULING");
  EXPECT_EQ(g["bundles"], Json::array());
  EXPECT_EQ(g["held"],
            Json::parse(R"([{"index": 0, "node": "n0", "gpus": [{"id": 0, "fraction": 1}]}])"));
  EXPECT_EQ(g["reason"].get<std::string>().rfind("bundle 1 lost with its node; ", 0), 0u)
      << g["reason"];
  EXPECT_EQ(g["explain"]["nodes"], Json::parse(R"([{"node": "n0", "verdict": "used_by_group"}])"));
}

TEST(RenderStateTest, ExplanationListsAtMostAHundredNodes) {
  std::string cluster = R"({"nodes": [)";
  for (int i = 0; i < 150; ++i) {
    if (i) cluster += ",";
    cluster += R"({"name": "n)";
    cluster += std::to_string(i);
    cluster += R"(", "resources": {"GPU": 1}})";
  }
  cluster += "]}";
  PlacementEngine engine;
  Status s = ParseAndApply(engine, cluster, R"({"ops": [
      {"op": "create", "group": "big", "strategy": "PACK", "bundles": [{"GPU": 2}]}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  Json e = Render(engine)["groups"][0]["explain"];
  EXPECT_EQ(e["never_fits"], 150);
  EXPECT_EQ(e["nodes"].size(), kMaxExplainedNodes);
  EXPECT_EQ(e["nodes"][99]["node"], "n99");
  EXPECT_EQ(e["nodes_omitted"], 50);
}

TEST(RenderStateTest, FewNodesHaveNoOmittedCount) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "big", "strategy": "PACK", "bundles": [{"GPU": 4}]}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(Render(engine)["groups"][0]["explain"].contains("nodes_omitted"));
}

TEST(RenderStateTest, EmptyEngine) {
  PlacementEngine engine;
  EXPECT_EQ(RenderState(engine), "{\n  \"groups\": [],\n  \"nodes\": []\n}\n");
  EXPECT_EQ(RenderState(engine, JsonStyle::kCompact), "{\"groups\":[],\"nodes\":[]}\n");
}

TEST(RenderStateTest, QuantitiesAreIntegersWhenWholeAndShortDecimalsOtherwise) {
  PlacementEngine engine;
  Status s = ParseAndApply(
      engine, R"({"nodes": [{"name": "n", "resources": {"CPU": 1, "memory": 1099511627776}}]})",
      R"({"ops": [{"op": "create", "group": "g", "strategy": "PACK",
                              "bundles": [{"CPU": 0.6667}]}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string text = RenderState(engine);
  EXPECT_NE(text.find(R"("available": {"CPU": 0.3333, "memory": 1099511627776})"),
            std::string::npos)
      << text;
}

TEST(RenderStateTest, CompactAndPrettyAgreeAndAreDeterministic) {
  PlacementEngine engine;
  Status s = ParseAndApply(engine, kTwoNodes, R"({"ops": [
      {"op": "create", "group": "a", "strategy": "PACK", "bundles": [{"CPU": 1, "GPU": 1}]},
      {"op": "create", "group": "b", "strategy": "PACK", "bundles": [{"GPU": 8}]}]})");
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string pretty = RenderState(engine);
  const std::string compact = RenderState(engine, JsonStyle::kCompact);
  EXPECT_EQ(pretty, RenderState(engine));
  EXPECT_EQ(compact.find('\n'), compact.size() - 1);
  EXPECT_EQ(Json::parse(pretty), Json::parse(compact));
  // One bundle or device per line.
  EXPECT_NE(
      pretty.find(
          "\n        {\"index\": 0, \"node\": \"n1\", \"gpus\": [{\"id\": 0, \"fraction\": 1}]}\n"),
      std::string::npos)
      << pretty;
  EXPECT_NE(pretty.find("\n        {\"id\": 1, \"free\": 1}\n"), std::string::npos) << pretty;
}

}  // namespace
}  // namespace berth::formats
