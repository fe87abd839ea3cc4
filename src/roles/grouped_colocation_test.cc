// Grouped (N:M) colocation (AReaL #1575): a fork role with fewer, larger
// instances than its training target runs each instance over k of the
// target's workers on one node, on the union of their devices; its cpu and
// mem are reserved a k-th in every target bundle.

#include <gtest/gtest.h>

#include "roles/plan_test_util.h"

namespace berth {
namespace {

using roles::testutil::Contains;
using roles::testutil::Devices;
using roles::testutil::Env;
using roles::testutil::GpuNodes;
using roles::testutil::Group;
using roles::testutil::MustPlan;
using roles::testutil::PlanError;
using roles::testutil::Worker;

// 16 one-GPU trainers on two 8-GPU nodes, 4 four-GPU servers over them.
constexpr const char* kSixteenOverFour = R"(
name: t
roles:
  - {name: actor, replicas: 16, scheduling_spec: {cpu: 1, gpu: 1, cmd: [x]}}
  - name: gen
    replicas: 4
    scheduling_strategy: {type: colocation, target: actor}
    scheduling_spec: {cpu: 2, gpu: 4, ports: [http], cmd: [y]}
)";

TEST(GroupedColocationTest, EachInstanceRunsOverFourTrainersOnOneNode) {
  Plan plan = MustPlan(kSixteenOverFour, GpuNodes(2, 8));
  for (int j = 0; j < 4; ++j) {
    const WorkerPlan& g = Worker(plan, "gen/" + std::to_string(j));
    std::vector<std::string> shares;
    std::vector<int> devices;
    for (int i = 4 * j; i < 4 * j + 4; ++i) {
      const WorkerPlan& a = Worker(plan, "actor/" + std::to_string(i));
      EXPECT_EQ(a.node, g.node) << g.id << " and " << a.id;
      shares.push_back(a.id);
      for (int d : Devices(a)) devices.push_back(d);
    }
    EXPECT_EQ(g.shares, shares) << g.id;
    EXPECT_EQ(g.fork_of, shares.front());
    EXPECT_EQ(Devices(g), devices) << g.id;
    EXPECT_EQ(Env(g, "CUDA_VISIBLE_DEVICES"), j % 2 == 0 ? "0,1,2,3" : "4,5,6,7") << g.id;
  }
  EXPECT_NE(Worker(plan, "gen/0").node, Worker(plan, "gen/2").node);
  // The fork's cpu 2 is reserved a quarter in each trainer's bundle.
  for (const ResourceSet& b : Group(plan, "actor").bundles) {
    EXPECT_EQ(b.Get(kCpu), *Quantity::FromDouble(1.5, "")) << b.ToString();
  }
}

TEST(GroupedColocationTest, TooFewWholeGroupsOnANodeIsExplained) {
  // 6 trainers per node: one group of 4 each, and 3 instances asked.
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: actor, replicas: 12, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: gen, replicas: 3, scheduling_strategy: {type: colocation, target: actor},
     scheduling_spec: {gpu: 4, cmd: [y]}}
)",
                                  GpuNodes(2, 6));
  EXPECT_TRUE(Contains(m,
                       "grouped colocation needs 3 groups of 4 workers of \"actor\" on one node "
                       "each, and its workers stand n0: 6, n1: 6 (2 whole groups)"))
      << m;
}

TEST(GroupedColocationTest, TheForksCpuMustFitWhatItsTrainersReserved) {
  // Placing both: a node of 6 CPUs holds 4 trainers of 1.5 (1 + a quarter
  // of 2), not 4 trainers of 3 (1 + a quarter of 8).
  Plan ok = MustPlan(kSixteenOverFour, GpuNodes(4, 4, 6));
  EXPECT_EQ(Worker(ok, "gen/3").shares.size(), 4U);
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: actor, replicas: 16, scheduling_spec: {cpu: 1, gpu: 1, cmd: [x]}}
  - {name: gen, replicas: 4, scheduling_strategy: {type: colocation, target: actor},
     scheduling_spec: {cpu: 8, gpu: 4, cmd: [y]}}
)",
                                  GpuNodes(4, 4, 6));
  EXPECT_TRUE(Contains(m, "group \"actor\" is not placed")) << m;
}

}  // namespace
}  // namespace berth
