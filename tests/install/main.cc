// A program outside berth's tree that embeds it: only <berth/...> headers,
// only the installed package (tests/install/install_test.sh). It places a
// placement group, parses a cluster, reads an experiment and plans it, and
// checks what it gets; it prints one line per result (compared with
// expected_output.txt) and exits 1 on a mismatch.

#include <berth/experiment.h>
#include <berth/json.h>
#include <berth/local.h>
#include <berth/placement.h>
#include <berth/plan.h>
#include <berth/ports.h>
#include <berth/resources.h>
#include <berth/scheduler_json.h>
#include <berth/status.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

int g_failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("MISMATCH: %s\n", what.c_str());
    ++g_failures;
  }
}

std::string Env(const berth::WorkerPlan& w, std::string_view name) {
  for (const auto& [k, v] : w.env) {
    if (k == name) return v;
  }
  return "<unset>";
}

std::string Devices(const std::vector<berth::GpuShare>& gpus) {
  std::string out;
  for (const berth::GpuShare& g : gpus) out += (out.empty() ? "" : ",") + std::to_string(g.device);
  return out;
}

// Two nodes, a STRICT_SPREAD group of two GPU bundles, and a group that can
// never fit.
void Placement() {
  using berth::Quantity;
  berth::PlacementEngine engine;
  for (const char* name : {"n0", "n1"}) {
    berth::NodeSpec node;
    node.name = name;
    node.resources = {{"CPU", Quantity::Whole(8)}, {"GPU", Quantity::Whole(2)}};
    Check(engine.AddNode(node).ok(), std::string("AddNode ") + name);
  }
  berth::GroupSpec group;
  group.name = "train";
  group.strategy = berth::Strategy::kStrictSpread;
  group.bundles = {{{"CPU", Quantity::Whole(1)}, {"GPU", Quantity::Whole(1)}},
                   {{"CPU", Quantity::Whole(1)}, {"GPU", Quantity::Whole(1)}}};
  berth::Result<berth::GroupState> state = engine.CreateGroup(group);
  Check(state && *state == berth::GroupState::kCreated, "train is CREATED");
  std::optional<berth::GroupView> view = engine.Group("train");
  std::string where;
  if (view) {
    for (const berth::BundlePlacement& b : view->placed) {
      where += (where.empty() ? "" : " ") + b.node + ":" + Devices(b.gpus);
    }
  }
  Check(where == "n0:0 n1:0", "train on n0:0 n1:0, got " + where);
  std::printf("placement: %s %s on %s\n", group.name.c_str(),
              state ? berth::GroupStateName(*state) : "error", where.c_str());

  berth::GroupSpec big;
  big.name = "big";
  big.strategy = berth::Strategy::kStrictPack;
  big.bundles = {{{"GPU", Quantity::Whole(4)}}};
  state = engine.CreateGroup(big);
  Check(state && *state == berth::GroupState::kInfeasible, "big is INFEASIBLE");
  std::optional<berth::Explanation> why = engine.Explain("big");
  Check(why && why->never_fits == 2 && !why->reason.empty(), "big never fits on 2 nodes");
  std::printf("placement: big %s, never fits on %d nodes\n",
              state ? berth::GroupStateName(*state) : "error", why ? why->never_fits : -1);
}

// A cluster from JSON, and the error of a bad one.
std::vector<berth::NodeSpec> Cluster() {
  berth::Result<std::vector<berth::NodeSpec>> nodes = berth::ParseClusterJson(
      R"({"nodes": [{"name": "gpu0", "resources": {"CPU": 16, "GPU": 4, "memory": 68719476736},
                     "labels": {"address": "10.0.0.7"}}]})",
      "cluster.json");
  Check(nodes.has_value(), "cluster parses");
  if (!nodes) return {};
  Check(nodes->size() == 1 && (*nodes)[0].resources.Get(berth::kGpu) == berth::Quantity::Whole(4),
        "one node with 4 GPUs");
  std::printf("cluster: %zu node, %s %s\n", nodes->size(), (*nodes)[0].name.c_str(),
              (*nodes)[0].resources.ToString().c_str());

  berth::Result<std::vector<berth::NodeSpec>> bad =
      berth::ParseClusterJson(R"({"nodes": [{"name": "x", "resources": {"GPU": 1.5}}]})", "c.json");
  Check(!bad && bad.error().code() == berth::ErrorCode::kInvalidSpec, "GPU 1.5 is refused");
  if (!bad) {
    const std::string& m = bad.error().message();
    std::printf("cluster: bad one refused: %s\n", m.substr(0, m.find(':', 8)).c_str());
  }
  return *nodes;
}

// An experiment from YAML, planned on the cluster.
void Experiment(const std::vector<berth::NodeSpec>& nodes) {
  const char* yaml = R"(name: embed
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec: {gpu: 1, cpu: 2, mem: 4, cmd: [python3, train.py, "--rank={RANK}"]}
)";
  berth::Result<berth::ExperimentSpec> e = berth::ParseExperiment(yaml, "embed.yaml");
  Check(e.has_value(), "experiment parses: " + (e ? "" : e.error().ToString()));
  if (!e) return;
  berth::Result<berth::Plan> plan = berth::MakePlan(*e, nodes, berth::CountingPorts());
  Check(plan.has_value(), "experiment plans: " + (plan ? "" : plan.error().ToString()));
  if (!plan) return;
  Check(plan->workers.size() == 2, "two workers");
  for (const berth::WorkerPlan& w : plan->workers) {
    std::string argv;
    for (const std::string& a : w.argv) argv += (argv.empty() ? "" : " ") + a;
    std::printf("plan: %s on %s (%s) GPUs %s CUDA_VISIBLE_DEVICES=%s MASTER_PORT=%s argv: %s\n",
                w.id.c_str(), w.node.c_str(), w.address.c_str(), Devices(w.gpus).c_str(),
                Env(w, "CUDA_VISIBLE_DEVICES").c_str(), Env(w, "MASTER_PORT").c_str(),
                argv.c_str());
    Check(Env(w, "CUDA_VISIBLE_DEVICES") == std::to_string(w.index), w.id + "'s devices");
    Check(argv == "python3 train.py --rank=" + std::to_string(w.index), w.id + "'s argv");
  }
  berth::Result<std::string> json = berth::PlanToJson(e->name, *plan);
  Check(json && json->find("\"experiment\": \"embed\"") != std::string::npos, "plan as JSON");

  // Too many GPUs: an error value carrying the engine's reason.
  berth::ExperimentSpec more = *e;
  more.roles[0].replicas = 5;
  berth::Result<berth::Plan> none = berth::MakePlan(more, nodes, berth::CountingPorts());
  Check(!none && none.error().code() == berth::ErrorCode::kInfeasible, "5 GPUs are infeasible");
  std::printf("plan: 5 replicas: %s\n",
              none ? "planned" : berth::ErrorCodeName(none.error().code()));

  berth::Result<berth::RoleSpec> role = berth::ParseRoleJson(
      R"({"name": "ref", "replicas": 2, "scheduling_spec": {"cpu": 1, "cmd": ["sleep", "60"]}})",
      "job");
  Check(role && role->name == "ref" && role->replicas == 2 && role->tasks.size() == 1,
        "a role from JSON: " + (role ? "" : role.error().ToString()));
  if (role) {
    std::printf("role: %s, %d replicas, cmd %s\n", role->name.c_str(), role->replicas,
                role->tasks[0].cmd[0].c_str());
  }
}

// This machine with declared resources, and an error as JSON.
void Local() {
  berth::LocalResources declared;
  declared.gpus = 2;
  declared.cpu = berth::Quantity::Whole(4);
  declared.mem_gib = berth::Quantity::Whole(8);
  berth::Result<berth::NodeSpec> node = berth::LocalMachineNode(declared);
  Check(node.has_value(), "this machine as a node");
  if (node) {
    std::printf("local: %s %s address %s\n", node->name.c_str(), node->resources.ToString().c_str(),
                node->labels["address"].c_str());
    Check(berth::AllOnLoopback({*node}), "the local node is on loopback");
  }
  const std::string error = berth::ErrorToJson(berth::NotFound("no role \"x\""));
  Check(error.find(R"("code":"not_found")") != std::string::npos, "error as JSON: " + error);
  Check(error.find(R"("message":"no role \"x\"")") != std::string::npos, "its message: " + error);
  std::printf("error: as JSON with code not_found\n");
}

}  // namespace

int main() {
  Placement();
  Experiment(Cluster());
  Local();
  if (g_failures > 0) {
    std::printf("%d mismatch(es)\n", g_failures);
    return 1;
  }
  std::printf("embed: all checks passed\n");
  return 0;
}
