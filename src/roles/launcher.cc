// Launch presets, rendering: the fold of a torchrun role into one process per
// node, each process's preset env and its argv (launcher.h lists the flags).

#include "roles/launcher.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "roles/placeholders.h"
#include "roles/tasks.h"

namespace berth {

const char* LauncherKindName(LauncherSpec::Kind k) {
  switch (k) {
    case LauncherSpec::Kind::kTorchrun:
      return "torchrun";
    case LauncherSpec::Kind::kVllm:
      return "vllm";
    case LauncherSpec::Kind::kSglang:
      return "sglang";
  }
  return "unknown";
}

const char* LauncherModeName(LauncherSpec::Mode m) {
  return m == LauncherSpec::Mode::kPerRank ? "per-rank" : "per-node";
}

namespace roles {
namespace {

using Kind = LauncherSpec::Kind;

bool Is(const RoleSpec& role, Kind k) { return role.launcher && role.launcher->kind == k; }

}  // namespace

std::vector<std::string> DefaultProgram(const LauncherSpec& launcher) {
  switch (launcher.kind) {
    case Kind::kTorchrun:
      // Per rank, berth is the launcher: the ranks run the script directly.
      if (launcher.mode == LauncherSpec::Mode::kPerRank) return {"python3"};
      return {"torchrun"};
    case Kind::kVllm:
      return {"vllm", "serve"};
    case Kind::kSglang:
      return {"python3", "-m", "sglang.launch_server"};
  }
  return {};
}

bool TorchWorld(const RoleSpec& role) { return !role.launcher || Is(role, Kind::kTorchrun); }

bool PerNodeTorchrun(const RoleSpec& role) {
  return Is(role, Kind::kTorchrun) && role.launcher->mode == LauncherSpec::Mode::kPerNode;
}

bool LauncherAddsPort(const RoleSpec& role, std::string_view port) {
  return (Is(role, Kind::kVllm) || Is(role, Kind::kSglang)) && port == kServerPort;
}

std::vector<std::string> LauncherPorts(const RoleSpec& role, int node_rank) {
  // vLLM's other node ranks run headless (no API server); SGLang's serve a
  // health endpoint of their own on --port.
  if (Is(role, Kind::kSglang) || (Is(role, Kind::kVllm) && node_rank == 0)) {
    return {std::string(kServerPort)};
  }
  return {};
}

Readiness LauncherReadiness(const RoleSpec& role) {
  if (role.readiness.kind != Readiness::Kind::kNone || TorchWorld(role)) return role.readiness;
  Readiness r;
  r.kind = Readiness::Kind::kHttp;
  r.port = std::string(kServerPort);
  r.path = "/health";
  return r;
}

bool FoldRanksPerNode(const RoleWorkers& in, NodeFold& out) {
  if (!in.training || !PerNodeTorchrun(*in.role)) return false;
  out.in = in;
  out.in.slots.clear();
  std::vector<std::string> nodes;
  for (size_t i = 0; i < in.slots.size(); ++i) {
    const Slot& s = in.slots[i].front();
    auto it = std::find(nodes.begin(), nodes.end(), s.node);
    if (it == nodes.end()) {
      nodes.push_back(s.node);
      out.in.slots.push_back({s});
      out.tasks.push_back((*in.tasks)[i]);
      out.first_rank.push_back(static_cast<int>(i));
      out.nproc.push_back(1);
      continue;
    }
    const auto n = static_cast<size_t>(it - nodes.begin());
    std::vector<GpuShare>& gpus = out.in.slots[n].front().gpus;
    gpus.insert(gpus.end(), s.gpus.begin(), s.gpus.end());
    ++out.nproc[n];
  }
  // Whole devices only (CheckLauncher refuses shares): ascending, once each.
  for (std::vector<Slot>& slot : out.in.slots) {
    std::vector<GpuShare>& gpus = slot.front().gpus;
    std::sort(gpus.begin(), gpus.end(),
              [](const GpuShare& a, const GpuShare& b) { return a.device < b.device; });
    gpus.erase(
        std::unique(gpus.begin(), gpus.end(),
                    [](const GpuShare& a, const GpuShare& b) { return a.device == b.device; }),
        gpus.end());
  }
  out.in.tasks = &out.tasks;
  return true;
}

void AppendLauncherEnv(const RoleSpec& role, const LaunchFacts& f, Env& env) {
  if (!Is(role, Kind::kTorchrun)) return;
  if (PerNodeTorchrun(role)) {
    // The launcher's own view; torchrun gives each of its ranks RANK,
    // LOCAL_RANK, WORLD_SIZE and the rest itself.
    env.emplace_back("NNODES", std::to_string(f.nnodes));
    env.emplace_back("NODE_RANK", std::to_string(f.node_rank));
    env.emplace_back("MASTER_ADDR", f.head_addr);
    env.emplace_back("MASTER_PORT", std::to_string(f.head_port));
    return;
  }
  // Per rank: berth's training variables are there (RANK, WORLD_SIZE,
  // LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_*); torchrun's others,
  // with one worker group per node as torchrun has.
  auto value = [&](std::string_view name) {
    for (const auto& [k, v] : env) {
      if (k == name) return v;
    }
    return std::string();
  };
  const std::string rank = value("RANK");
  const std::string world = value("WORLD_SIZE");
  const int restarts =
      role.on_failure.action == FailurePolicy::Action::kRestart ? role.on_failure.max_restarts : 0;
  env.emplace_back("GROUP_RANK", std::to_string(f.node_rank));
  env.emplace_back("GROUP_WORLD_SIZE", std::to_string(f.nnodes));
  env.emplace_back("ROLE_NAME", role.name);
  env.emplace_back("ROLE_RANK", rank);
  env.emplace_back("ROLE_WORLD_SIZE", world);
  // berth restarts a gang as a whole with new ports; a restarted rank is
  // started afresh, so the count is the plan's (0). Ranks rendezvous through
  // MASTER_ADDR:MASTER_PORT themselves (rank 0 hosts the store): there is
  // no agent store.
  env.emplace_back("TORCHELASTIC_RESTART_COUNT", "0");
  env.emplace_back("TORCHELASTIC_MAX_RESTARTS", std::to_string(restarts));
  env.emplace_back("TORCHELASTIC_USE_AGENT_STORE", "False");
}

namespace {

void Flag(std::vector<std::string>& argv, const char* name, const std::string& value) {
  argv.emplace_back(name);
  argv.push_back(value);
}

void Flag(std::vector<std::string>& argv, const char* name, int value) {
  Flag(argv, name, std::to_string(value));
}

// Placeholders of `words` (launcher.program or launcher.args) expanded.
Status Expand(const std::vector<std::string>& words, const std::string& field, const Env& env,
              const LaunchFacts& f, std::vector<std::string>& argv) {
  for (size_t j = 0; j < words.size(); ++j) {
    Result<std::string> arg = ExpandPlaceholders(words[j], env);
    if (!arg) {
      return InvalidSpec(RolePath(f.role_index) + ".launcher." + field + "[" + std::to_string(j) +
                         "]: " + arg.error().message() + " (for worker " + f.worker + ")");
    }
    argv.push_back(std::move(arg).value());
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> LauncherArgv(const RoleSpec& role, const LaunchFacts& f,
                                              const Env& env) {
  const LauncherSpec& l = *role.launcher;
  std::vector<std::string> argv;
  if (l.program.empty()) {
    argv = DefaultProgram(l);
  } else {
    BERTH_RETURN_IF_ERROR(Expand(l.program, "program", env, f, argv));
  }
  const int tp = role.instance ? role.instance->first : 1;
  const int pp = role.instance ? role.instance->second : 1;
  switch (l.kind) {
    case Kind::kTorchrun:
      if (l.mode == LauncherSpec::Mode::kPerNode) {
        Flag(argv, "--nnodes", f.nnodes);
        Flag(argv, "--node-rank", f.node_rank);
        Flag(argv, "--nproc-per-node", f.nproc);
        Flag(argv, "--master-addr", f.head_addr);
        Flag(argv, "--master-port", f.head_port);
      }
      break;
    case Kind::kVllm:
      Flag(argv, "--tensor-parallel-size", tp);
      Flag(argv, "--pipeline-parallel-size", pp);
      if (f.server_port != 0) Flag(argv, "--port", f.server_port);
      if (f.nnodes > 1) {
        // The multiprocessing backend over nodes: every node runs vllm
        // serve; torch.distributed meets at the head's rendezvous port.
        Flag(argv, "--nnodes", f.nnodes);
        Flag(argv, "--node-rank", f.node_rank);
        Flag(argv, "--master-addr", f.head_addr);
        Flag(argv, "--master-port", f.head_port);
        if (f.node_rank > 0) argv.emplace_back("--headless");
      }
      break;
    case Kind::kSglang:
      Flag(argv, "--tp", tp);  // the total over the instance's nodes
      if (pp > 1) Flag(argv, "--pp-size", pp);
      // Reachable from berth's readiness probe on the node's address
      // (SGLang's default is 127.0.0.1).
      Flag(argv, "--host", "0.0.0.0");
      if (f.server_port != 0) Flag(argv, "--port", f.server_port);
      if (f.nnodes > 1) {
        Flag(argv, "--nnodes", f.nnodes);
        Flag(argv, "--node-rank", f.node_rank);
        // host:port, an IPv6 host in brackets ([fd00::1]:port), as SGLang splits it.
        Flag(argv, "--dist-init-addr",
             (f.head_addr.find(':') != std::string::npos ? "[" + f.head_addr + "]" : f.head_addr) +
                 ":" + std::to_string(f.head_port));
      }
      break;
  }
  BERTH_RETURN_IF_ERROR(Expand(l.args, "args", env, f, argv));
  return argv;
}

}  // namespace roles
}  // namespace berth
