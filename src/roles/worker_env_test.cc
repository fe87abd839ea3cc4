// What each worker is told: env (names, order, byte-exact values) and argv.

#include "roles/worker_env.h"

#include <gtest/gtest.h>

#include <set>

#include "roles/plan_test_util.h"

namespace berth {
namespace {

using roles::testutil::Contains;
using roles::testutil::Env;
using roles::testutil::EnvNames;
using roles::testutil::GpuNodes;
using roles::testutil::MustPlan;
using roles::testutil::PlanError;
using roles::testutil::Worker;

using Names = std::vector<std::string>;

TEST(EnvTest, TrainingRankEnvInOrder) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: actor
    replicas: 2
    scheduling_spec:
      gpu: 1
      ports: [http, metrics-api]
      cmd: [train, "--rank={RANK}", "--master={MASTER_ADDR}:{MASTER_PORT}"]
      env_vars: {B: "2", A: "1"}
)",
                       GpuNodes(1, 8));
  const WorkerPlan& r0 = Worker(plan, "actor/0");
  EXPECT_EQ(EnvNames(r0),
            (Names{"BERTH_ROLE", "BERTH_WORKER_ID", "BERTH_NODE", "BERTH_PORT_HTTP",
                   "BERTH_PORT_METRICS_API", "BERTH_PORT_MASTER", "CUDA_VISIBLE_DEVICES",
                   "CUDA_DEVICE_ORDER", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                   "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "B", "A"}));
  EXPECT_EQ(Env(r0, "BERTH_ROLE"), "actor");
  EXPECT_EQ(Env(r0, "BERTH_WORKER_ID"), "actor/0");
  EXPECT_EQ(Env(r0, "BERTH_NODE"), "n0");
  EXPECT_EQ(Env(r0, "BERTH_PORT_HTTP"), "30000");
  EXPECT_EQ(Env(r0, "BERTH_PORT_METRICS_API"), "30001");
  EXPECT_EQ(Env(r0, "BERTH_PORT_MASTER"), "30002");
  EXPECT_EQ(Env(r0, "CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(Env(r0, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
  EXPECT_EQ(Env(r0, "MASTER_ADDR"), "10.0.0.0");
  EXPECT_EQ(Env(r0, "MASTER_PORT"), "30002");
  EXPECT_EQ(r0.ports, (std::vector<std::pair<std::string, int>>{
                          {"http", 30000}, {"metrics-api", 30001}, {"master", 30002}}));

  // Only rank 0 gets the master port; everyone gets its number.
  const WorkerPlan& r1 = Worker(plan, "actor/1");
  EXPECT_EQ(Env(r1, "BERTH_PORT_MASTER"), "<unset>");
  EXPECT_EQ(Env(r1, "MASTER_PORT"), "30002");
  EXPECT_EQ(Env(r1, "RANK"), "1");
  EXPECT_EQ(Env(r1, "WORLD_SIZE"), "2");
  EXPECT_EQ(r1.argv, (Names{"train", "--rank=1", "--master=10.0.0.0:30002"}));
}

TEST(EnvTest, DeclaredMasterPortIsUsed) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 2, scheduling_spec: {gpu: 1, ports: [master, http], cmd: [x]}}
)",
                       GpuNodes(1, 8));
  const WorkerPlan& r0 = Worker(plan, "a/0");
  EXPECT_EQ(r0.ports.size(), 2u);  // nothing added
  EXPECT_EQ(Env(r0, "MASTER_PORT"), "30000");
  EXPECT_EQ(Env(Worker(plan, "a/1"), "MASTER_PORT"), "30000");
}

// Found by fuzzing: a port named like berth's own in other case ("Master",
// "rendeZvous") is the same variable, so berth must not add its own again.
TEST(EnvTest, OwnPortNamesMatchInAnyCase) {
  Plan train = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 2, scheduling_spec: {gpu: 1, ports: [Master], cmd: [x]}}
)",
                        GpuNodes(1, 8));
  const WorkerPlan& r0 = Worker(train, "a/0");
  EXPECT_EQ(r0.ports.size(), 1u);
  EXPECT_EQ(Env(r0, "MASTER_PORT"), "30000");
  Plan deferred = MustPlan(R"(
name: t
roles:
  - {name: r, placement: deferred, instance: {tp: 16},
     scheduling_spec: {gpu: 1, ports: [http, rendeZvous], cmd: [x]}}
)",
                           GpuNodes(2, 8));
  const WorkerPlan& head = Worker(deferred, "r/0");
  EXPECT_EQ(head.ports.size(), 2u);
  EXPECT_EQ(Env(head, "BERTH_HEAD_PORT"), Env(head, "BERTH_PORT_RENDEZVOUS"));
  const Names names = EnvNames(head);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
}

TEST(EnvTest, TwoNodeTrainingLayout) {
  // 12 ranks of 1 GPU on two 8-GPU nodes: NODE_RANK in order of first rank,
  // LOCAL_RANK counted per node, LOCAL_WORLD_SIZE the node's rank count.
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 12, scheduling_spec: {gpu: 1, cmd: [x]}}
)",
                       GpuNodes(2, 8));
  const std::string node0 = Worker(plan, "a/0").node;
  std::map<std::string, int> per_node;
  for (const WorkerPlan& w : plan.workers) per_node[w.node]++;
  ASSERT_EQ(per_node.size(), 2u);
  std::map<std::string, int> next_local;
  std::map<std::string, std::string> node_rank;
  for (const WorkerPlan& w : plan.workers) {
    const std::string expect_node_rank = w.node == node0 ? "0" : "1";
    EXPECT_EQ(Env(w, "NODE_RANK"), expect_node_rank) << w.id;
    EXPECT_EQ(Env(w, "LOCAL_RANK"), std::to_string(next_local[w.node]++)) << w.id;
    EXPECT_EQ(Env(w, "LOCAL_WORLD_SIZE"), std::to_string(per_node[w.node])) << w.id;
    EXPECT_EQ(Env(w, "RANK"), std::to_string(w.index));
    EXPECT_EQ(Env(w, "WORLD_SIZE"), "12");
    EXPECT_EQ(Env(w, "MASTER_ADDR"), Worker(plan, "a/0").address);
    EXPECT_EQ(w.address, "10.0.0." + std::string(w.node == "n0" ? "0" : "1"));
  }
}

TEST(EnvTest, DeferredInstanceEnvAndFlags) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: rollout
    placement: deferred
    instance: {tp: 16}
    scheduling_spec:
      gpu: 1
      ports: [http]
      cmd: [sglang, --tp, "{BERTH_TP}", --nnodes, "{NNODES}", --node-rank, "{NODE_RANK}",
            --dist-init-addr, "{BERTH_HEAD_ADDR}:{BERTH_HEAD_PORT}",
            --pipeline-parallel-size, "{BERTH_PP}"]
)",
                       GpuNodes(2, 8));
  const WorkerPlan& head = Worker(plan, "rollout/0");
  const WorkerPlan& other = Worker(plan, "rollout/0.1");
  EXPECT_EQ(EnvNames(head),
            (Names{"BERTH_ROLE", "BERTH_WORKER_ID", "BERTH_NODE", "BERTH_PORT_HTTP",
                   "BERTH_PORT_RENDEZVOUS", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NNODES",
                   "NODE_RANK", "BERTH_HEAD_ADDR", "BERTH_HEAD_PORT", "BERTH_TP", "BERTH_PP"}));
  EXPECT_EQ(Env(other, "BERTH_PORT_RENDEZVOUS"), "<unset>");  // the head's only
  EXPECT_EQ(Env(head, "CUDA_VISIBLE_DEVICES"), "0,1,2,3,4,5,6,7");
  for (const WorkerPlan* w : {&head, &other}) {
    EXPECT_EQ(Env(*w, "NNODES"), "2");
    EXPECT_EQ(Env(*w, "BERTH_HEAD_ADDR"), head.address);
    EXPECT_EQ(Env(*w, "BERTH_HEAD_PORT"), "30001");
  }
  EXPECT_EQ(other.argv,
            (Names{"sglang", "--tp", "16", "--nnodes", "2", "--node-rank", "1", "--dist-init-addr",
                   head.address + ":30001", "--pipeline-parallel-size", "1"}));
  EXPECT_EQ(Env(head, "NODE_RANK"), "0");
}

TEST(EnvTest, SeparateInstanceHasTpButNoRanks) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: r, placement: separate, instance: {tp: 2, pp: 3}, scheduling_spec: {gpu: 1, cmd: [x]}}
)",
                       GpuNodes(1, 8));
  const WorkerPlan& w = Worker(plan, "r/0");
  EXPECT_EQ(Env(w, "BERTH_TP"), "2");
  EXPECT_EQ(Env(w, "BERTH_PP"), "3");
  EXPECT_EQ(Env(w, "RANK"), "<unset>");
  EXPECT_EQ(Env(w, "NNODES"), "<unset>");
  EXPECT_EQ(Env(w, "CUDA_VISIBLE_DEVICES"), "0,1,2,3,4,5");
}

TEST(EnvTest, CpuOnlyWorkerSeesNoDevice) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: c, placement: separate, scheduling_spec: {cpu: 1, cmd: [x]}}
)",
                       GpuNodes(1, 8));
  EXPECT_EQ(Env(Worker(plan, "c/0"), "CUDA_VISIBLE_DEVICES"), "");
}

TEST(EnvTest, ValuesTravelByteExact) {
  // A block scalar keeps the newlines; commas, '=', quotes and spaces stay
  // (AReaL's "k=v,k=v" string broke on them).
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: a
    placement: separate
    scheduling_spec:
      cmd: [x, "{LIST}", "{SCRIPT}"]
      env_vars:
        LIST: "a=1,b=2, c = 'three' \"four\""
        SCRIPT: |
          line one, with = sign
            indented "quoted"
          last
        EMPTY: ""
        TAB: "a\tb"
)",
                       GpuNodes(1, 0));
  const WorkerPlan& w = Worker(plan, "a/0");
  const std::string list = "a=1,b=2, c = 'three' \"four\"";
  const std::string script = "line one, with = sign\n  indented \"quoted\"\nlast\n";
  EXPECT_EQ(Env(w, "LIST"), list);
  EXPECT_EQ(Env(w, "SCRIPT"), script);
  EXPECT_EQ(Env(w, "EMPTY"), "");
  EXPECT_EQ(Env(w, "TAB"), "a\tb");
  EXPECT_EQ(w.argv, (Names{"x", list, script}));
}

TEST(EnvTest, BracesEscapeAndSpecEnvIsAPlaceholder) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: a
    placement: separate
    scheduling_spec:
      ports: [http]
      cmd: [x, "{{\"port\": {BERTH_PORT_HTTP}}}", "--model={MODEL}"]
      env_vars: {MODEL: /m/x}
)",
                       GpuNodes(1, 0));
  EXPECT_EQ(Worker(plan, "a/0").argv, (Names{"x", "{\"port\": 30000}", "--model=/m/x"}));
}

TEST(EnvTest, UnknownPlaceholderNamesItAndTheWorker) {
  const std::string m = PlanError(R"(
name: t
roles:
  - {name: a, placement: separate, scheduling_spec: {cmd: [x, "--p={MASTER_PORT}"]}}
)",
                                  GpuNodes(1, 0));
  EXPECT_TRUE(Contains(m, "roles[0].scheduling_spec.cmd[1]: unknown placeholder {MASTER_PORT}"))
      << m;
  EXPECT_TRUE(Contains(m, "available: BERTH_ROLE, BERTH_WORKER_ID")) << m;
  EXPECT_TRUE(Contains(m, "(for worker a/0)")) << m;
}

TEST(EnvTest, PerWorkerSpecs) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: a
    replicas: 2
    placement: separate
    scheduling_spec:
      - {cmd: [first], env_vars: {K: zero}}
      - {cmd: [second], env_vars: {K: one}}
)",
                       GpuNodes(1, 0));
  EXPECT_EQ(Worker(plan, "a/0").argv, Names{"first"});
  EXPECT_EQ(Env(Worker(plan, "a/1"), "K"), "one");
}

}  // namespace
}  // namespace berth
