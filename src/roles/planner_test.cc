// MakePlan: the groups and bundles of each placement mode, the rollout and
// auto-deferral rules, and what happens when a role does not fit.

#include <gtest/gtest.h>

#include "roles/plan_test_util.h"

namespace berth {
namespace {

using roles::testutil::Contains;
using roles::testutil::Devices;
using roles::testutil::GpuNodes;
using roles::testutil::Group;
using roles::testutil::Ids;
using roles::testutil::kGib;
using roles::testutil::MustPlan;
using roles::testutil::PlanError;
using roles::testutil::PlanYaml;
using roles::testutil::Worker;

Quantity Gib(double g) { return *Quantity::FromDouble(g * kGib, "mem"); }

ResourceSet Bundle(double cpu, int gpu, double mem_gib) {
  ResourceSet r;
  if (cpu > 0) r.Set(kCpu, *Quantity::FromDouble(cpu, "cpu"));
  if (gpu > 0) r.Set(kGpu, Quantity::Whole(gpu));
  if (mem_gib > 0) r.Set(kMemory, Gib(mem_gib));
  return r;
}

TEST(SharedTest, OneGroupOneBundlePerWorkerInRankOrder) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: actor
    replicas: 3
    placement: shared
    scheduling_spec: {cpu: 2, gpu: 1, mem: 4, cmd: [x]}
)",
                       GpuNodes(2, 8));
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].role, "actor");
  const GroupView& g = Group(plan, "actor");
  EXPECT_EQ(g.strategy, Strategy::kPack);
  EXPECT_EQ(g.state, GroupState::kCreated);
  ASSERT_EQ(g.bundles.size(), 3u);
  for (const ResourceSet& b : g.bundles) EXPECT_EQ(b, Bundle(2, 1, 4));
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"actor/0", "actor/1", "actor/2"}));
  for (int i = 0; i < 3; ++i) {
    const WorkerPlan& w = plan.workers[i];
    EXPECT_EQ(w.group, "actor");
    EXPECT_EQ(w.bundle, i);  // worker i in bundle i
    EXPECT_EQ(w.index, i);
    EXPECT_EQ(w.node, g.placed[i].node);
  }
  // PACK: all three on one node, ascending devices in rank order.
  EXPECT_EQ(Worker(plan, "actor/0").node, Worker(plan, "actor/2").node);
  EXPECT_EQ(Devices(Worker(plan, "actor/0")), (std::vector<int>{0}));
  EXPECT_EQ(Devices(Worker(plan, "actor/2")), (std::vector<int>{2}));
}

TEST(SharedTest, PacksRanksOntoAsFewNodesAsPossible) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: actor, replicas: 16, scheduling_spec: {gpu: 1, cmd: [x]}}
)",
                       GpuNodes(4, 8));
  std::set<std::string> nodes;
  for (const WorkerPlan& w : plan.workers) nodes.insert(w.node);
  EXPECT_EQ(nodes.size(), 2u);
}

TEST(SeparateTest, OneGroupPerWorker) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: gen
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 2, mem: 8, cmd: [x]}
)",
                       GpuNodes(1, 8));
  ASSERT_EQ(plan.groups.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const std::string name = "gen/" + std::to_string(i);
    const GroupView& g = Group(plan, name);
    EXPECT_EQ(g.strategy, Strategy::kPack);
    EXPECT_EQ(g.bundles, std::vector<ResourceSet>{Bundle(1, 2, 8)});
    EXPECT_EQ(Worker(plan, name).group, name);
    EXPECT_EQ(Worker(plan, name).bundle, 0);
    EXPECT_EQ(plan.groups[i].role, "gen");
  }
  EXPECT_EQ(Devices(Worker(plan, "gen/0")), (std::vector<int>{0, 1}));
  EXPECT_EQ(Devices(Worker(plan, "gen/1")), (std::vector<int>{2, 3}));
}

TEST(DeferredTest, Tp16SplitsIntoNodeBundlesOnDistinctNodes) {
  // areal.md 3.6: a TP16 rollout with cpu 8, mem 32 per GPU on 8-GPU nodes.
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: rollout
    placement: deferred
    instance: {tp: 16}
    scheduling_spec: {cpu: 8, gpu: 1, mem: 32, ports: [http], cmd: [x]}
    readiness: {tcp: http}
)",
                       GpuNodes(3, 8, 128, 1024));
  const GroupView& g = Group(plan, "rollout/0");
  EXPECT_EQ(g.strategy, Strategy::kStrictSpread);
  EXPECT_EQ(g.bundles, (std::vector<ResourceSet>{Bundle(64, 8, 256), Bundle(64, 8, 256)}));
  EXPECT_NE(g.placed[0].node, g.placed[1].node);
  EXPECT_TRUE(plan.warnings.empty());  // deferred was asked for

  // One process per bundle; the head is rollout/0.
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"rollout/0", "rollout/0.1"}));
  const WorkerPlan& head = Worker(plan, "rollout/0");
  const WorkerPlan& other = Worker(plan, "rollout/0.1");
  EXPECT_EQ(head.index, 0);
  EXPECT_EQ(other.index, 0);
  EXPECT_EQ(head.bundle, 0);
  EXPECT_EQ(other.bundle, 1);
  EXPECT_EQ(head.node, g.placed[0].node);
  EXPECT_EQ(other.node, g.placed[1].node);
  EXPECT_EQ(Devices(other), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  // Only the head is probed: the others serve nothing.
  EXPECT_EQ(head.readiness.kind, Readiness::Kind::kTcp);
  EXPECT_EQ(other.readiness.kind, Readiness::Kind::kNone);
}

TEST(DeferredTest, ArealSplitExampleAndCpuFreeBundle) {
  // (16, cpu=1, gpu=24, mem=1024) -> {1, 16, 683}, {0, 8, 341}: the second
  // bundle asks no CPU.
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: deferred, scheduling_spec: {cpu: 1, gpu: 24, mem: 1024, cmd: [x]}}
)",
                       GpuNodes(2, 16, 64, 2048));
  EXPECT_EQ(Group(plan, "r/0").bundles,
            (std::vector<ResourceSet>{Bundle(1, 16, 683), Bundle(0, 8, 341)}));
}

TEST(DeferredTest, FractionalCpuSplitsInTenThousandths) {
  // cpu 0.5 over two nodes: 5000 units, half each (0.25); mem 3 GiB is
  // whole and splits as AReaL does (1.5 -> 2, remainder 1).
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: deferred, scheduling_spec: {cpu: 0.5, gpu: 16, mem: 3, cmd: [x]}}
)",
                       GpuNodes(2, 8));
  EXPECT_EQ(Group(plan, "r/0").bundles,
            (std::vector<ResourceSet>{Bundle(0.25, 8, 2), Bundle(0.25, 8, 1)}));
}

TEST(DeferredTest, FitsOneNodeIsOneBundle) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: deferred, replicas: 2, scheduling_spec: {cpu: 1, gpu: 4, cmd: [x]}}
)",
                       GpuNodes(2, 8));
  EXPECT_EQ(Group(plan, "r/1").bundles.size(), 1u);
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"r/0", "r/1"}));
}

TEST(RolloutTest, InstanceScalesTheSpecAndSharedBecomesSeparateWithOneWarning) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: rollout
    replicas: 3
    placement: shared
    instance: {tp: 2, pp: 2}
    scheduling_spec: {cpu: 1.5, gpu: 1, mem: 2, cmd: [x]}
)",
                       GpuNodes(2, 8));
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_TRUE(Contains(plan.warnings[0],
                       "roles[0] (rollout): placement shared is turned into "
                       "separate"))
      << plan.warnings[0];
  ASSERT_EQ(plan.groups.size(), 3u);
  // cpu and mem times tp*pp = 4, gpu = 4.
  EXPECT_EQ(Group(plan, "rollout/2").bundles, std::vector<ResourceSet>{Bundle(6, 4, 8)});
  EXPECT_EQ(Group(plan, "rollout/2").strategy, Strategy::kPack);
}

TEST(RolloutTest, CpuOnlyInstanceStaysCpuOnly) {
  // AReaL sets gpu = tp*pp only when gpu > 0.
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: separate, instance: {tp: 4}, scheduling_spec: {cpu: 1, cmd: [x]}}
)",
                       GpuNodes(1, 0));
  EXPECT_EQ(Group(plan, "r/0").bundles, std::vector<ResourceSet>{Bundle(4, 0, 0)});
}

TEST(AutoDeferralTest, AnInstanceBiggerThanANodeIsDeferredWithAWarning) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: rollout
    placement: separate
    instance: {tp: 16}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, cmd: [x]}
)",
                       GpuNodes(2, 8));
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_TRUE(Contains(plan.warnings[0], "an instance needs 16 GPUs but the largest node has 8"))
      << plan.warnings[0];
  EXPECT_TRUE(Contains(plan.warnings[0], "deferred"));
  const GroupView& g = Group(plan, "rollout/0");
  EXPECT_EQ(g.strategy, Strategy::kStrictSpread);
  EXPECT_EQ(g.bundles, (std::vector<ResourceSet>{Bundle(8, 8, 8), Bundle(8, 8, 8)}));
}

TEST(AutoDeferralTest, GpusPerNodeIsTheLargestNode) {
  // A 4-GPU and an 8-GPU node: a 6-GPU instance fits the large one and
  // stays separate.
  std::vector<NodeSpec> nodes = GpuNodes(1, 4);
  std::vector<NodeSpec> big = GpuNodes(2, 8);
  nodes.push_back(big[1]);
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: separate, scheduling_spec: {gpu: 6, cmd: [x]}}
)",
                       nodes);
  EXPECT_TRUE(plan.warnings.empty());
  EXPECT_EQ(Group(plan, "r/0").strategy, Strategy::kPack);
  EXPECT_EQ(Worker(plan, "r/0").node, "n1");
}

TEST(DoesNotFitTest, InfeasibleCarriesTheExplanation) {
  Result<Plan> p = PlanYaml(R"(
name: t
roles:
  - {name: big, scheduling_spec: {gpu: 4, cmd: [x]}}
)",
                            GpuNodes(2, 2));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), ErrorCode::kInfeasible);
  // The message is one line: the role, the group, its state, the reason.
  const std::string& m = p.error().message();
  EXPECT_EQ(m,
            "roles[0] (big): group \"big\" is not placed (INFEASIBLE): bundle 0 needs GPU 4, but "
            "the most any node has is GPU 2 (n0); lower it, or add a node with GPU 4 or more");
  // The engine's explanation travels with it as data, unchanged.
  const Explanation* e = p.error().explanation();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->group, "big");
  EXPECT_EQ(e->reason_code, ReasonCode::kBundleTooLarge);
  EXPECT_EQ(e->hint, "lower it, or add a node with GPU 4 or more");
  EXPECT_EQ(e->bundle, 0);
  EXPECT_EQ(e->node, "n0");
  EXPECT_EQ(e->resource, "GPU");
  EXPECT_EQ(e->need, Quantity::Whole(4));
  EXPECT_EQ(e->have, Quantity::Whole(2));
  EXPECT_EQ(e->never_fits, 2);
  ASSERT_EQ(e->nodes.size(), 2u);
  EXPECT_EQ(e->nodes[1].node, "n1");
  EXPECT_EQ(e->nodes[1].verdict, NodeVerdict::kNeverFits);
  // The text people read renders it below the message.
  const std::string text = placement::ErrorText(p.error());
  EXPECT_EQ(text.rfind(m + "\n", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, "nodes: 0 fit now, 0 full now, 2 never fit")) << text;
  EXPECT_TRUE(Contains(text, "n0  never_fits")) << text;
  EXPECT_TRUE(Contains(text, "GPU needs 4, has 2")) << text;
}

TEST(DoesNotFitTest, TakenByAnEarlierRoleIsPending) {
  Result<Plan> p = PlanYaml(R"(
name: t
roles:
  - {name: a, scheduling_spec: {gpu: 6, cmd: [x]}}
  - {name: b, placement: separate, scheduling_spec: {gpu: 4, mem: 1, cmd: [x]}}
)",
                            GpuNodes(1, 8));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(Contains(p.error().message(), "(PENDING)")) << p.error().message();
  ASSERT_NE(p.error().explanation(), nullptr);
  EXPECT_EQ(p.error().explanation()->group, "b/0");
  EXPECT_EQ(p.error().explanation()->reason_code, ReasonCode::kNodesBusy);
  const std::string text = placement::ErrorText(p.error());
  EXPECT_TRUE(Contains(text, "n0  full_now")) << text;
  EXPECT_TRUE(Contains(text, "has free 2")) << text;
}

TEST(DoesNotFitTest, OtherErrorsCarryNoExplanation) {
  Result<Plan> p = PlanYaml("name: t\nroles: [{name: a, replicas: 0, scheduling_spec: {cmd: [x]}}]",
                            GpuNodes(1, 8));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().explanation(), nullptr);
  EXPECT_EQ(placement::ErrorText(p.error()), p.error().message());
}

TEST(DoesNotFitTest, MemoryIsShownInGib) {
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: a, scheduling_spec: {cpu: 1, mem: 600, cmd: [x]}}
)",
                                  GpuNodes(1, 0));
  EXPECT_TRUE(Contains(m, "memory needs 600 GiB, has 512 GiB")) << m;
}

TEST(PlanTest, NoNodes) {
  const std::string m = PlanError("name: t\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]", {});
  EXPECT_TRUE(Contains(m, "no nodes")) << m;
}

TEST(PlanTest, SameInputSamePlan) {
  const std::string yaml = R"(
name: t
roles:
  - {name: a, replicas: 4, scheduling_spec: {gpu: 1, ports: [http, x], cmd: [x]}}
  - {name: b, replicas: 2, placement: separate, scheduling_spec: {gpu: 2, ports: [http], cmd: [x]}}
)";
  Plan p1 = MustPlan(yaml, GpuNodes(2, 8));
  Plan p2 = MustPlan(yaml, GpuNodes(2, 8));
  ASSERT_EQ(p1.workers.size(), p2.workers.size());
  for (size_t i = 0; i < p1.workers.size(); ++i) {
    EXPECT_EQ(p1.workers[i].env, p2.workers[i].env);
    EXPECT_EQ(p1.workers[i].ports, p2.workers[i].ports);
  }
}

TEST(PlanTest, PortsAreDistinctPerNode) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 8, scheduling_spec: {gpu: 1, ports: [http, grpc], cmd: [x]}}
  - {name: b, replicas: 2, placement: separate, scheduling_spec: {gpu: 1, ports: [http], cmd: [x]}}
)",
                       GpuNodes(2, 8));
  std::map<std::string, std::set<int>> seen;
  for (const WorkerPlan& w : plan.workers) {
    for (const auto& [name, port] : w.ports) {
      EXPECT_TRUE(seen[w.node].insert(port).second) << w.id << " " << name << " " << port;
    }
  }
}

TEST(PlanTest, FractionalGpuShare) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 2, placement: separate, scheduling_spec: {gpu: 0.5, cmd: [x]}}
)",
                       GpuNodes(1, 1));
  for (const WorkerPlan& w : plan.workers) {
    ASSERT_EQ(w.gpus.size(), 1u);
    EXPECT_EQ(w.gpus[0].device, 0);
    EXPECT_EQ(w.gpus[0].fraction, *Quantity::FromDouble(0.5, ""));
  }
}

}  // namespace
}  // namespace berth
