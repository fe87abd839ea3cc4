// A role's topology (experiment YAML `topology: {key, mode}`): the gang of a
// shared role and each instance of a deferred one inside one domain of the
// label; no room in one domain is explained; bad input names the path.

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

// Rack a: a0, a1; rack b: b0, b1, b2; 8 GPUs each.
std::vector<NodeSpec> Racks() {
  std::vector<NodeSpec> nodes;
  for (const char* name : {"a0", "a1", "b0", "b1", "b2"}) {
    NodeSpec n;
    n.name = name;
    n.resources.Set(kCpu, Quantity::Whole(32));
    n.resources.Set(kGpu, Quantity::Whole(8));
    n.labels = {{"rack", std::string(1, name[0])}};
    nodes.push_back(n);
  }
  return nodes;
}

std::map<std::string, std::set<std::string>> NodesByRole(const Plan& plan) {
  std::map<std::string, std::set<std::string>> out;
  for (const WorkerPlan& w : plan.workers) out[w.role].insert(w.node);
  return out;
}

TEST(RoleTopologyTest, AGangAndAnInstanceEachInOneRack) {
  Plan plan = MustPlan(R"y(
name: t
roles:
  - name: actor
    replicas: 24
    placement: shared
    topology: {key: rack, mode: require}
    scheduling_spec: {gpu: 1, cmd: [x]}
  - name: rollout
    replicas: 1
    placement: deferred
    topology: {key: rack}
    scheduling_spec: {gpu: 16, cmd: [x]}
)y",
                       Racks());
  auto nodes = NodesByRole(plan);
  // 24 GPUs: only rack b (3 nodes) holds them in one rack.
  EXPECT_EQ(nodes["actor"], (std::set<std::string>{"b0", "b1", "b2"}));
  EXPECT_EQ(nodes["rollout"], (std::set<std::string>{"a0", "a1"}));
}

TEST(RoleTopologyTest, NoRackWithRoomIsExplained) {
  const std::string err = PlanError(R"y(
name: t
roles:
  - name: actor
    replicas: 32
    topology: {key: rack, mode: require}
    scheduling_spec: {gpu: 1, cmd: [x]}
)y",
                                    Racks());
  EXPECT_NE(err.find("no single rack domain can hold the group (rack: a, b)"), std::string::npos)
      << err;
}

TEST(RoleTopologyTest, BadInputNamesThePath) {
  std::string err = PlanError(R"y(
name: t
roles:
  - {name: actor, topology: {key: rack, mode: always}, scheduling_spec: {gpu: 1, cmd: [x]}}
)y",
                              Racks());
  EXPECT_NE(err.find("roles[0].topology.mode: \"always\" is not a topology mode; allowed: "
                     "prefer, require"),
            std::string::npos)
      << err;
  err = PlanError(R"y(
name: t
roles:
  - {name: actor, topology: {mode: require}, scheduling_spec: {gpu: 1, cmd: [x]}}
)y",
                  Racks());
  EXPECT_NE(err.find("roles[0].topology.key: required key is missing"), std::string::npos) << err;
  err = PlanError(R"y(
name: t
roles:
  - {name: actor, scheduling_spec: {gpu: 1, cmd: [x]}}
  - name: ref
    topology: {key: rack}
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    scheduling_spec: {cpu: 0, gpu: 0, cmd: [x]}
)y",
                  Racks());
  EXPECT_NE(err.find("roles[1].topology: a colocated role is placed in its target's groups"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace berth
