// Launch presets rendered from plans: each process's argv read back with the
// tool's own argument names (as its argparse would), then checked across the
// processes of a torch world or an instance: one head, one port, node ranks
// 0..n-1, sizes that multiply to the GPUs each process sees.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "roles/plan_test_util.h"
#include "roles/ports.h"
#include "roles/role_planner.h"

namespace berth::roles {
namespace {

using testutil::Contains;
using testutil::Devices;
using testutil::Env;
using testutil::GpuNodes;
using testutil::MustPlan;
using testutil::PlanError;
using testutil::Worker;

// An argv read as the tool reads it: `program` words first, then its flags
// (each named in `valued` takes one value, in `switches` none; anything
// else starting with '-' is a flag the tool does not know), then the rest.
struct Parsed {
  std::map<std::string, std::string> flags;
  std::set<std::string> switches;
  std::vector<std::string> rest;  // positionals and what follows the script
};

Parsed Parse(const std::vector<std::string>& argv, size_t program,
             const std::set<std::string>& valued, const std::set<std::string>& switches,
             bool stop_at_positional) {
  Parsed p;
  EXPECT_GE(argv.size(), program);
  for (size_t i = program; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("-", 0) != 0) {
      if (stop_at_positional) {
        p.rest.assign(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
        break;
      }
      p.rest.push_back(a);
      continue;
    }
    if (switches.contains(a)) {
      p.switches.insert(a);
    } else if (valued.contains(a) && i + 1 < argv.size()) {
      EXPECT_FALSE(p.flags.contains(a)) << a << " given twice";
      p.flags[a] = argv[++i];
    } else {
      p.rest.push_back(a);  // the tool's own flag, from args
    }
  }
  return p;
}

int Int(const Parsed& p, const std::string& flag) {
  auto it = p.flags.find(flag);
  if (it == p.flags.end()) {
    ADD_FAILURE() << "missing " << flag;
    return -1;
  }
  return std::stoi(it->second);
}

std::string Str(const Parsed& p, const std::string& flag) {
  auto it = p.flags.find(flag);
  return it == p.flags.end() ? "<missing>" : it->second;
}

int Port(const WorkerPlan& w, const std::string& name) {
  for (const auto& [n, port] : w.ports) {
    if (n == name) return port;
  }
  return 0;
}

Parsed Torchrun(const WorkerPlan& w) {
  EXPECT_EQ(w.argv.at(0), "torchrun");
  return Parse(w.argv, 1,
               {"--nnodes", "--node-rank", "--nproc-per-node", "--master-addr", "--master-port"},
               {}, /*stop_at_positional=*/true);
}

Parsed Vllm(const WorkerPlan& w) {
  EXPECT_EQ(w.argv.at(0), "vllm");
  EXPECT_EQ(w.argv.at(1), "serve");
  return Parse(w.argv, 2,
               {"--tensor-parallel-size", "--pipeline-parallel-size", "--port", "--nnodes",
                "--node-rank", "--master-addr", "--master-port"},
               {"--headless"}, false);
}

Parsed Sglang(const WorkerPlan& w) {
  EXPECT_EQ(w.argv.at(0), "python3");
  EXPECT_EQ(w.argv.at(1), "-m");
  EXPECT_EQ(w.argv.at(2), "sglang.launch_server");
  return Parse(w.argv, 3,
               {"--tp", "--pp-size", "--host", "--port", "--nnodes", "--node-rank",
                "--dist-init-addr", "--model-path"},
               {}, false);
}

std::vector<const WorkerPlan*> OfRole(const Plan& plan, const std::string& role) {
  std::vector<const WorkerPlan*> out;
  for (const WorkerPlan& w : plan.workers) {
    if (w.role == role) out.push_back(&w);
  }
  return out;
}

constexpr char kTorchrun[] = R"(
name: t
roles:
  - name: actor
    replicas: RANKS
    placement: shared
    launcher: {kind: torchrun, args: [train.py, --lr, "1e-5", --nnodes, "9"]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)";

std::string With(std::string yaml, const std::string& key, const std::string& value) {
  yaml.replace(yaml.find(key), key.size(), value);
  return yaml;
}

// One torchrun per node; together they hold every rank once.
void CheckTorchWorld(const Plan& plan, int ranks, size_t nodes) {
  const std::vector<const WorkerPlan*> ws = OfRole(plan, "actor");
  ASSERT_EQ(ws.size(), nodes);
  const WorkerPlan& head = *ws[0];
  int total = 0;
  std::set<std::string> node_names;
  for (size_t n = 0; n < ws.size(); ++n) {
    const WorkerPlan& w = *ws[n];
    const Parsed p = Torchrun(w);
    EXPECT_EQ(w.id, "actor/" + std::to_string(n));
    EXPECT_EQ(Int(p, "--nnodes"), static_cast<int>(nodes));
    EXPECT_EQ(Int(p, "--node-rank"), static_cast<int>(n));
    EXPECT_EQ(Str(p, "--master-addr"), head.address);
    EXPECT_EQ(Int(p, "--master-port"), Port(head, "master"));
    EXPECT_NE(Port(head, "master"), 0);
    // Its ranks' devices, one per rank, and nothing of the other nodes'.
    EXPECT_EQ(Int(p, "--nproc-per-node"), static_cast<int>(w.gpus.size()));
    total += Int(p, "--nproc-per-node");
    EXPECT_TRUE(node_names.insert(w.node).second) << "two launchers on " << w.node;
    // The script and its own arguments, --nnodes included, after the flags.
    EXPECT_EQ(p.rest, (std::vector<std::string>{"train.py", "--lr", "1e-5", "--nnodes", "9"}));
    // The launcher's env agrees with its flags; torchrun sets RANK itself.
    EXPECT_EQ(Env(w, "NNODES"), std::to_string(nodes));
    EXPECT_EQ(Env(w, "NODE_RANK"), std::to_string(n));
    EXPECT_EQ(Env(w, "MASTER_ADDR"), head.address);
    EXPECT_EQ(Env(w, "MASTER_PORT"), std::to_string(Port(head, "master")));
    EXPECT_EQ(Env(w, "RANK"), "<unset>");
    EXPECT_EQ(w.readiness.kind, Readiness::Kind::kNone);
  }
  EXPECT_EQ(total, ranks);
}

TEST(LauncherTest, TorchrunPerNodeOneLauncherPerNode) {
  const Plan plan = MustPlan(With(kTorchrun, "RANKS", "16"), GpuNodes(3, 8));
  CheckTorchWorld(plan, 16, 2);
  EXPECT_EQ(Env(Worker(plan, "actor/1"), "CUDA_VISIBLE_DEVICES"), "0,1,2,3,4,5,6,7");
}

TEST(LauncherTest, TorchrunPerNodeUnevenNodesAndOneNode) {
  const Plan uneven = MustPlan(With(kTorchrun, "RANKS", "10"), GpuNodes(2, 8));
  CheckTorchWorld(uneven, 10, 2);
  EXPECT_EQ(Env(Worker(uneven, "actor/1"), "CUDA_VISIBLE_DEVICES"), "0,1");
  CheckTorchWorld(MustPlan(With(kTorchrun, "RANKS", "3"), GpuNodes(1, 8)), 3, 1);
}

TEST(LauncherTest, TorchrunPerNodeRebuildsTheSameLaunchersOnNewPorts) {
  // A restart of the gang (RolePlanner::Rebuild of every index): the same
  // launchers on the same nodes and devices, a new rendezvous port for all.
  Result<ExperimentSpec> e = ParseExperiment(With(kTorchrun, "RANKS", "10"), "t.yaml");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  Result<RolePlanner> planner = RolePlanner::Create(GpuNodes(2, 8));
  ASSERT_TRUE(planner.has_value());
  Result<PlacedRole> placed = planner->Add(e->roles[0], 0, {}, CountingPorts());
  ASSERT_TRUE(placed.has_value()) << placed.error().ToString();
  Result<std::vector<WorkerPlan>> again = planner->Rebuild("actor", {0, 1}, CountingPorts(40000));
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  ASSERT_EQ(again->size(), 2u);
  for (size_t n = 0; n < 2; ++n) {
    const WorkerPlan& before = placed->workers[n];
    const WorkerPlan& after = (*again)[n];
    EXPECT_EQ(after.id, before.id);
    EXPECT_EQ(after.node, before.node);
    EXPECT_EQ(Devices(after), Devices(before));
    EXPECT_EQ(Int(Torchrun(after), "--master-port"), 40000);
    EXPECT_EQ(Int(Torchrun(after), "--nproc-per-node"), Int(Torchrun(before), "--nproc-per-node"));
  }
}

TEST(LauncherTest, TorchrunPerRankGivesTorchrunsEnv) {
  const Plan plan = MustPlan(R"(
name: t
roles:
  - name: actor
    replicas: 4
    placement: shared
    on_failure: restart
    restart: {max_restarts: 5}
    launcher: {kind: torchrun, mode: per-rank, program: [/usr/bin/python3, -u], args: [train.py]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                             GpuNodes(2, 2));
  const std::vector<const WorkerPlan*> ws = OfRole(plan, "actor");
  ASSERT_EQ(ws.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    const WorkerPlan& w = *ws[r];
    EXPECT_EQ(w.argv, (std::vector<std::string>{"/usr/bin/python3", "-u", "train.py"}));
    const std::map<std::string, std::string> want = {
        {"RANK", std::to_string(r)},
        {"LOCAL_RANK", std::to_string(r % 2)},
        {"WORLD_SIZE", "4"},
        {"LOCAL_WORLD_SIZE", "2"},
        {"GROUP_RANK", std::to_string(r / 2)},
        {"GROUP_WORLD_SIZE", "2"},
        {"ROLE_RANK", std::to_string(r)},
        {"ROLE_WORLD_SIZE", "4"},
        {"ROLE_NAME", "actor"},
        {"MASTER_ADDR", ws[0]->address},
        {"MASTER_PORT", std::to_string(Port(*ws[0], "master"))},
        {"TORCHELASTIC_RESTART_COUNT", "0"},
        {"TORCHELASTIC_MAX_RESTARTS", "5"},
        {"TORCHELASTIC_USE_AGENT_STORE", "False"},
        {"CUDA_VISIBLE_DEVICES", std::to_string(Devices(w).at(0))}};
    for (const auto& [k, v] : want) EXPECT_EQ(Env(w, k), v) << w.id << " " << k;
  }
  // The default program: the ranks run the script themselves.
  const Plan plain = MustPlan(With(kTorchrun, "RANKS", "1"), GpuNodes(1, 1));
  EXPECT_EQ(Worker(plain, "actor/0").argv.at(0), "torchrun");
}

// Every process of each instance of `role`: one head, one port, node ranks
// 0..n-1, tp*pp devices in all, the same number on each node.
void CheckVllmInstances(const Plan& plan, const std::string& role, int tp, int pp, size_t nodes) {
  std::map<int, std::vector<const WorkerPlan*>> instances;
  for (const WorkerPlan* w : OfRole(plan, role)) instances[w->index].push_back(w);
  ASSERT_FALSE(instances.empty());
  for (const auto& [i, ws] : instances) {
    ASSERT_EQ(ws.size(), nodes);
    const WorkerPlan& head = *ws[0];
    size_t devices = 0;
    for (size_t r = 0; r < ws.size(); ++r) {
      const WorkerPlan& w = *ws[r];
      const Parsed p = Vllm(w);
      EXPECT_EQ(Int(p, "--tensor-parallel-size"), tp);
      EXPECT_EQ(Int(p, "--pipeline-parallel-size"), pp);
      EXPECT_EQ(w.gpus.size() * nodes, static_cast<size_t>(tp * pp)) << w.id;
      devices += w.gpus.size();
      EXPECT_EQ(p.rest, std::vector<std::string>{"/models/m"});
      if (nodes == 1) {
        EXPECT_FALSE(p.flags.contains("--nnodes"));
      } else {
        EXPECT_EQ(Int(p, "--nnodes"), static_cast<int>(nodes));
        EXPECT_EQ(Int(p, "--node-rank"), static_cast<int>(r));
        EXPECT_EQ(Str(p, "--master-addr"), head.address);
        EXPECT_EQ(Int(p, "--master-port"), Port(head, "rendezvous"));
      }
      // The head serves (and is probed); the others run headless.
      EXPECT_EQ(p.switches.contains("--headless"), r > 0);
      EXPECT_EQ(p.flags.contains("--port"), r == 0);
      if (r == 0) {
        EXPECT_EQ(Int(p, "--port"), Port(w, "http"));
        EXPECT_EQ(w.readiness.kind, Readiness::Kind::kHttp);
        EXPECT_EQ(w.readiness.port, "http");
        EXPECT_EQ(w.readiness.path, "/health");
      } else {
        EXPECT_EQ(w.readiness.kind, Readiness::Kind::kNone);
      }
    }
    EXPECT_EQ(devices, static_cast<size_t>(tp * pp));
  }
}

constexpr char kVllm[] = R"(
name: t
roles:
  - name: rollout
    replicas: 2
    placement: separate
    instance: {tp: TP, pp: PP}
    launcher: {kind: vllm, args: [/models/m]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)";

TEST(LauncherTest, VllmOneServerPerInstance) {
  const Plan plan = MustPlan(With(With(kVllm, "TP", "2"), "PP", "2"), GpuNodes(1, 8));
  CheckVllmInstances(plan, "rollout", 2, 2, 1);
  EXPECT_EQ(Env(Worker(plan, "rollout/1"), "CUDA_VISIBLE_DEVICES"), "4,5,6,7");
  EXPECT_EQ(Env(Worker(plan, "rollout/1"), "RANK"), "<unset>");
}

TEST(LauncherTest, VllmMultiNodeInstanceRunsHeadlessFollowers) {
  // 16 GPUs on nodes of 8: deferred automatically, 2 nodes per instance.
  const Plan plan = MustPlan(With(With(kVllm, "TP", "8"), "PP", "2"), GpuNodes(4, 8));
  CheckVllmInstances(plan, "rollout", 8, 2, 2);
  // Each instance its own head and port.
  EXPECT_NE(Worker(plan, "rollout/0").node, Worker(plan, "rollout/1").node);
}

TEST(LauncherTest, SglangTotalTpOverNodes) {
  const Plan plan = MustPlan(R"(
name: t
roles:
  - name: sg
    replicas: 1
    placement: deferred
    instance: {tp: 8, pp: 2}
    launcher: {kind: sglang, args: [--model-path, /m]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                             GpuNodes(4, 4));
  const std::vector<const WorkerPlan*> ws = OfRole(plan, "sg");
  ASSERT_EQ(ws.size(), 4u);
  const WorkerPlan& head = *ws[0];
  for (size_t r = 0; r < ws.size(); ++r) {
    const Parsed p = Sglang(*ws[r]);
    EXPECT_EQ(Int(p, "--tp"), 8);  // the total, not per node
    EXPECT_EQ(Int(p, "--pp-size"), 2);
    EXPECT_EQ(Int(p, "--nnodes"), 4);
    EXPECT_EQ(Int(p, "--node-rank"), static_cast<int>(r));
    EXPECT_EQ(Str(p, "--dist-init-addr"),
              head.address + ":" + std::to_string(Port(head, "rendezvous")));
    EXPECT_EQ(Int(p, "--port"), Port(*ws[r], "http"));
    EXPECT_EQ(Str(p, "--host"), "0.0.0.0");
    EXPECT_EQ(Str(p, "--model-path"), "/m");
    EXPECT_EQ(ws[r]->gpus.size(), 4u);
  }
  EXPECT_EQ(head.readiness.kind, Readiness::Kind::kHttp);
  EXPECT_EQ(ws[1]->readiness.kind, Readiness::Kind::kNone);
}

TEST(LauncherTest, SglangBracketsAnIpv6Head) {
  std::vector<NodeSpec> nodes = GpuNodes(2, 4);
  nodes[0].labels["address"] = "fd00::1";
  nodes[1].labels["address"] = "fd00::2";
  const Plan plan = MustPlan(R"(
name: t
roles:
  - name: sg
    replicas: 1
    placement: deferred
    instance: {tp: 8}
    launcher: {kind: sglang, args: [--model-path, /m]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                             nodes);
  const std::vector<const WorkerPlan*> ws = OfRole(plan, "sg");
  ASSERT_EQ(ws.size(), 2u);
  const std::string want = "[" + ws[0]->address + "]:" + std::to_string(Port(*ws[0], "rendezvous"));
  EXPECT_EQ(Str(Sglang(*ws[1]), "--dist-init-addr"), want);
  EXPECT_EQ(want.rfind("[fd00::", 0), 0u) << want;
}

TEST(LauncherTest, ForkedServerOnTrainingRanksSeesItsTargetsDevices) {
  const Plan plan = MustPlan(R"(
name: t
roles:
  - name: actor
    replicas: 2
    placement: shared
    launcher: {kind: torchrun, mode: per-rank, args: [train.py]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
  - name: gen
    replicas: 2
    instance: {tp: 1, pp: 1}
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    launcher: {kind: vllm, args: [/models/m, "--served-model-name={BERTH_WORKER_ID}"]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                             GpuNodes(1, 8));
  for (int i = 0; i < 2; ++i) {
    const WorkerPlan& gen = Worker(plan, "gen/" + std::to_string(i));
    const WorkerPlan& actor = Worker(plan, "actor/" + std::to_string(i));
    EXPECT_EQ(gen.fork_of, actor.id);
    EXPECT_EQ(Devices(gen), Devices(actor));
    const Parsed p = Vllm(gen);
    EXPECT_EQ(Int(p, "--tensor-parallel-size"), 1);
    EXPECT_EQ(Int(p, "--port"), Port(gen, "http"));
    EXPECT_EQ(p.rest, (std::vector<std::string>{"/models/m", "--served-model-name=" + gen.id}));
    // A server, not a rank of the actor's world.
    EXPECT_EQ(Env(gen, "RANK"), "<unset>");
    EXPECT_EQ(Port(gen, "master"), 0);
  }
}

TEST(LauncherTest, ForkRunsTorchrunPerNodeOnTrainingRanks) {
  const Plan plan = MustPlan(R"(
name: t
roles:
  - name: actor
    replicas: 4
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, cmd: [train]}
  - name: ref
    replicas: 4
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    launcher: {kind: torchrun, args: [ref.py]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                             GpuNodes(2, 2));
  const std::vector<const WorkerPlan*> refs = OfRole(plan, "ref");
  ASSERT_EQ(refs.size(), 2u);
  for (size_t n = 0; n < refs.size(); ++n) {
    const Parsed p = Torchrun(*refs[n]);
    EXPECT_EQ(Int(p, "--nnodes"), 2);
    EXPECT_EQ(Int(p, "--nproc-per-node"), 2);
    EXPECT_EQ(Int(p, "--master-port"), Port(*refs[0], "master"));
    // It stands on the bundle of its node's first rank.
    EXPECT_EQ(refs[n]->fork_of, "actor/" + std::to_string(2 * n));
    EXPECT_EQ(refs[n]->node, Worker(plan, refs[n]->fork_of).node);
  }
}

TEST(LauncherTest, PlacementsAPresetCannotRunAreRefused) {
  // A vLLM fork on a target of 2 devices with tp*pp = 1.
  std::string e = PlanError(R"(
name: t
roles:
  - name: actor
    replicas: 1
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 2, mem: 1, cmd: [train]}
  - name: gen
    replicas: 1
    instance: {tp: 1, pp: 1}
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    launcher: {kind: vllm}
    scheduling_spec: {cpu: 0, gpu: 1, mem: 0}
)",
                            GpuNodes(1, 8));
  EXPECT_TRUE(Contains(e, "roles[1].instance: tp*pp = 1 GPUs")) << e;
  EXPECT_TRUE(Contains(e, "actor/0 holds 2 device(s)")) << e;
  EXPECT_TRUE(Contains(e, "make tp*pp 2")) << e;
  // 12 GPUs on nodes of 8 split 8 + 4: vLLM needs the same on every node.
  e = PlanError(With(With(kVllm, "TP", "4"), "PP", "3"), GpuNodes(4, 8));
  EXPECT_TRUE(Contains(e,
                       "roles[0].instance: tp*pp = 12 GPUs of rollout/0 are split over 2 "
                       "nodes as 8 + 4"))
      << e;
  EXPECT_TRUE(Contains(e, "multiple of the GPUs per node (8)")) << e;
  // SGLang: 3 nodes cannot hold 2 pipeline stages evenly.
  e = PlanError(R"(
name: t
roles:
  - name: sg
    replicas: 1
    instance: {tp: 6, pp: 2}
    launcher: {kind: sglang}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
)",
                GpuNodes(3, 4));
  EXPECT_TRUE(Contains(e, "roles[0].instance.pp: 2 pipeline stages do not divide the 3 nodes"))
      << e;
}

}  // namespace
}  // namespace berth::roles
