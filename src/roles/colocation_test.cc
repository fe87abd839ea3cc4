// Colocation: forks (same node and devices, exact cpu/mem accounting),
// aliases, and the errors between roles.

#include <gtest/gtest.h>

#include "roles/plan_test_util.h"

namespace berth {
namespace {

using roles::testutil::Contains;
using roles::testutil::Devices;
using roles::testutil::Env;
using roles::testutil::GpuNodes;
using roles::testutil::Group;
using roles::testutil::Ids;
using roles::testutil::kGib;
using roles::testutil::MustPlan;
using roles::testutil::PlanError;
using roles::testutil::PlanYaml;
using roles::testutil::Worker;

TEST(ForkTest, SameNodeAndDevicesOwnPortsAndIdentity) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: actor, replicas: 2, scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [x]}}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor}
    scheduling_spec: {cpu: 0.5, mem: 2, ports: [http], cmd: [y, "{BERTH_WORKER_ID}"]}
)",
                       GpuNodes(2, 8));
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"actor/0", "actor/1", "ref/0", "ref/1"}));
  for (int i = 0; i < 2; ++i) {
    const WorkerPlan& t = Worker(plan, "actor/" + std::to_string(i));
    const WorkerPlan& f = Worker(plan, "ref/" + std::to_string(i));
    EXPECT_EQ(f.node, t.node);
    EXPECT_EQ(f.gpus, t.gpus);
    EXPECT_EQ(Env(f, "CUDA_VISIBLE_DEVICES"), Env(t, "CUDA_VISIBLE_DEVICES"));
    EXPECT_EQ(f.group, t.group);
    EXPECT_EQ(f.bundle, t.bundle);
    EXPECT_EQ(f.fork_of, t.id);
    EXPECT_EQ(Env(f, "BERTH_ROLE"), "ref");
    EXPECT_EQ(Env(f, "BERTH_WORKER_ID"), f.id);
    EXPECT_NE(Env(f, "BERTH_PORT_HTTP"), Env(t, "BERTH_PORT_HTTP"));
    EXPECT_EQ(f.argv[1], f.id);
    // A fork of a training role is a training world of its own, laid out
    // like its target, with its own master port.
    EXPECT_EQ(Env(f, "RANK"), std::to_string(i));
    EXPECT_EQ(Env(f, "LOCAL_RANK"), Env(t, "LOCAL_RANK"));
    EXPECT_EQ(Env(f, "MASTER_ADDR"), Env(t, "MASTER_ADDR"));
    EXPECT_NE(Env(f, "MASTER_PORT"), Env(t, "MASTER_PORT"));
  }
  // Exact accounting: each actor bundle grew by the fork's cpu and mem.
  ResourceSet grown;
  grown.Set(kCpu, *Quantity::FromDouble(1.5, ""));
  grown.Set(kGpu, Quantity::Whole(1));
  grown.Set(kMemory, *Quantity::FromDouble(3 * kGib, ""));
  EXPECT_EQ(Group(plan, "actor").bundles, (std::vector<ResourceSet>{grown, grown}));
  EXPECT_EQ(plan.groups.size(), 1u);  // the fork has no group of its own
}

TEST(ForkTest, MultiGpuTargetSharesAllItsDevices) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: gen, replicas: 2, placement: separate, instance: {tp: 4},
     scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: proxy, replicas: 2, scheduling_strategy: {type: colocation, target: gen},
     scheduling_spec: {cpu: 0.1, gpu: 4, cmd: [y]}}
)",
                       GpuNodes(1, 8));
  EXPECT_EQ(Devices(Worker(plan, "proxy/0")), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(Devices(Worker(plan, "proxy/1")), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(Env(Worker(plan, "proxy/1"), "CUDA_VISIBLE_DEVICES"), "4,5,6,7");
  // Not a training world: no ranks.
  EXPECT_EQ(Env(Worker(plan, "proxy/0"), "RANK"), "<unset>");
}

TEST(ForkTest, ForkGpuIsSharedNotReservedAgain) {
  // The node has exactly the target's GPUs; a fork asking gpu 1 still fits.
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 2, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: f, replicas: 2, scheduling_strategy: {type: colocation, target: a},
     scheduling_spec: {gpu: 1, cmd: [y]}}
)",
                       GpuNodes(1, 2));
  EXPECT_EQ(plan.workers.size(), 4u);
}

TEST(ForkTest, AccountingDecidesWhetherTheTargetFits) {
  const std::string without = R"(
name: t
roles:
  - {name: a, replicas: 2, scheduling_spec: {cpu: 2, cmd: [x]}}
)";
  EXPECT_TRUE(PlanYaml(without, GpuNodes(1, 0, 4)).has_value());
  Result<Plan> with = PlanYaml(without + R"(
  - {name: f, replicas: 2, scheduling_strategy: {type: colocation, target: a},
     scheduling_spec: {cpu: 1, cmd: [y]}}
)",
                               GpuNodes(1, 0, 4));
  ASSERT_FALSE(with.has_value());
  EXPECT_EQ(with.error().code(), ErrorCode::kInfeasible);
  EXPECT_TRUE(Contains(with.error().message(), "roles[0] (a): group \"a\" is not placed"))
      << with.error().message();
}

TEST(ForkTest, DeclaredBeforeItsTargetStillStartsAfterIt) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: f, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {cmd: [y]}}
  - {name: a, scheduling_spec: {cmd: [x]}}
)",
                       GpuNodes(1, 0));
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"a/0", "f/0"}));
}

TEST(ForkTest, OntoADeferredInstanceGoesToTheHead) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: deferred, scheduling_spec: {cpu: 2, gpu: 16, cmd: [x]}}
  - {name: p, scheduling_strategy: {type: colocation, target: r}, scheduling_spec: {cpu: 3, cmd: [y]}}
)",
                       GpuNodes(2, 8));
  const GroupView& g = Group(plan, "r/0");
  EXPECT_EQ(g.bundles[0].Get(kCpu), Quantity::Whole(1 + 3));
  EXPECT_EQ(g.bundles[1].Get(kCpu), Quantity::Whole(1));
  const WorkerPlan& p = Worker(plan, "p/0");
  EXPECT_EQ(p.node, Worker(plan, "r/0").node);
  EXPECT_EQ(p.bundle, 0);
  EXPECT_EQ(p.fork_of, "r/0");
  EXPECT_EQ(Env(p, "NNODES"), "<unset>");
}

TEST(ForkTest, MoreGpuThanTheTargetIsAnError) {
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: a, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: f, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {gpu: 2, cmd: [y]}}
)",
                                  GpuNodes(1, 8));
  EXPECT_TRUE(Contains(m, "roles[1].scheduling_spec.gpu: 2 is more than the 1 GPU of its target"))
      << m;
}

TEST(AliasTest, NoWorkersJustAnAlias) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: actor, replicas: 2, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: critic, replicas: 2, scheduling_strategy: {type: colocation, target: actor, fork: false}}
)",
                       GpuNodes(1, 8));
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"actor/0", "actor/1"}));
  EXPECT_EQ(plan.aliases, (std::vector<std::pair<std::string, std::string>>{{"critic", "actor"}}));
}

TEST(ColocationErrorTest, ReplicaCountMismatch) {
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: actor, replicas: 4, scheduling_spec: {cmd: [x]}}
  - {name: ref, replicas: 3, scheduling_strategy: {type: colocation, target: actor},
     scheduling_spec: {cmd: [y]}}
)",
                                  GpuNodes(1, 0));
  EXPECT_TRUE(Contains(m,
                       "Replica count mismatch: \"ref\" has 3 replicas but its target "
                       "\"actor\" has 4"))
      << m;
}

// The same rules for an experiment built in code (no YAML, no lines).
TEST(ColocationErrorTest, InCode) {
  SchedulingSpec spec;
  spec.cmd = {"x"};
  auto role = [&](const std::string& name, const std::string& target) {
    RoleSpec r;
    r.name = name;
    r.tasks = {spec};
    if (!target.empty()) r.colocation = Colocation{target, true};
    return r;
  };
  const RoleSpec a = role("a", ""), b = role("b", "c"), c = role("c", "b"), d = role("d", "b"),
                 e = role("e", "nope"), self = role("s", "s");
  auto error = [](std::vector<RoleSpec> roles) {
    ExperimentSpec x;
    x.name = "x";
    x.roles = std::move(roles);
    Result<Plan> p = MakePlan(x, GpuNodes(1, 0), roles::CountingPorts());
    return p ? std::string("(planned)") : p.error().message();
  };
  EXPECT_TRUE(Contains(error({a, b, c}),
                       "roles[1].scheduling_strategy.target: colocation cycle: "
                       "b -> c -> b"))
      << error({a, b, c});
  EXPECT_TRUE(Contains(error({self}), "colocation cycle: s -> s")) << error({self});
  // d -> b -> c: b is itself colocated (and in a cycle of its own; d is not).
  EXPECT_TRUE(Contains(error({a, d, b, c}),
                       "roles[1].scheduling_strategy.target: \"b\" is "
                       "itself colocated onto \"c\""))
      << error({a, d, b, c});
  EXPECT_TRUE(Contains(error({a, e}), "no role is named \"nope\"; roles: a, e"));
}

}  // namespace
}  // namespace berth
