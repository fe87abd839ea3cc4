// A role's node_selector (issue 18): each worker's bundles only on nodes
// whose labels match, for shared, separate and deferred roles; a selector no
// node satisfies explained; YAML errors name the path; a colocated role may
// not have one.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "roles/plan_test_util.h"

namespace berth {
namespace {

using roles::testutil::MustPlan;
using roles::testutil::PlanError;

std::vector<NodeSpec> Racks() {
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < 4; ++i) {
    NodeSpec n;
    n.name = "n" + std::to_string(i);
    n.resources.Set(kCpu, Quantity::Whole(16));
    n.resources.Set(kGpu, Quantity::Whole(4));
    n.labels = {{"rack", i < 2 ? "a" : "b"}, {"gpu_type", i == 3 ? "H200" : "H100"}};
    nodes.push_back(n);
  }
  return nodes;
}

TEST(NodeSelectorTest, EachModeUsesOnlyMatchingNodes) {
  // n0, n1: rack a, H100; n2: rack b, H100; n3: rack b, H200; 4 GPUs each.
  Plan plan = MustPlan(R"y(
name: t
roles:
  - name: actor
    replicas: 4
    placement: shared
    scheduling_spec: {gpu: 1, cmd: [x], node_selector: {gpu_type: H200}}
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec: {gpu: 2, cmd: [x], node_selector: {rack: "!b"}}
  - name: big
    replicas: 1
    placement: deferred
    scheduling_spec: {gpu: 8, cmd: [x], node_selector: {gpu_type: "in(H100,A100)"}}
)y",
                       Racks());
  std::map<std::string, std::set<std::string>> nodes;  // role -> nodes
  for (const WorkerPlan& w : plan.workers) nodes[w.role].insert(w.node);
  EXPECT_EQ(nodes["actor"], (std::set<std::string>{"n3"}));
  for (const std::string& n : nodes["rollout"]) EXPECT_TRUE(n == "n0" || n == "n1") << n;
  // Two node-sized bundles on distinct H100 nodes with 4 GPUs free: the
  // rollout instances packed onto one of rack a's nodes.
  EXPECT_EQ(nodes["big"].size(), 2U);
  EXPECT_FALSE(nodes["big"].contains("n3"));
  for (const std::string& n : nodes["big"]) EXPECT_FALSE(nodes["rollout"].contains(n)) << n;
}

TEST(NodeSelectorTest, NoMatchingNodeIsExplained) {
  const std::string err = PlanError(R"y(
name: t
roles:
  - name: actor
    replicas: 1
    scheduling_spec: {gpu: 1, cmd: [x], node_selector: {gpu_type: B200}}
)y",
                                    Racks());
  EXPECT_NE(err.find("asks for labels {gpu_type: B200}, and no node has them"), std::string::npos)
      << err;
}

TEST(NodeSelectorTest, BadSelectorsNameThePath) {
  std::string err = PlanError(R"y(
name: t
roles:
  - name: actor
    scheduling_spec: {gpu: 1, cmd: [x], node_selector: {rack: "in(a"}}
)y",
                              Racks());
  EXPECT_NE(err.find("roles[0].scheduling_spec.node_selector.rack: \"in(a\" has no closing "
                     "parenthesis"),
            std::string::npos)
      << err;
  err = PlanError(R"y(
name: t
roles:
  - name: actor
    scheduling_spec: {gpu: 1, cmd: [x], node_selector: [rack]}
)y",
                  Racks());
  EXPECT_NE(err.find("roles[0].scheduling_spec.node_selector: must be a map of node labels"),
            std::string::npos)
      << err;
  err = PlanError(R"y(
name: t
roles:
  - {name: actor, scheduling_spec: {gpu: 1, cmd: [x]}}
  - name: ref
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    scheduling_spec: {cpu: 0, gpu: 0, cmd: [x], node_selector: {rack: a}}
)y",
                  Racks());
  EXPECT_NE(err.find("node_selector: a colocated role runs on its target's nodes; put the "
                     "node_selector on \"actor\""),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace berth
