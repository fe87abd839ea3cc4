#include "roles/worker_env.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "roles/launcher.h"
#include "roles/names.h"
#include "roles/placeholders.h"
#include "roles/tasks.h"

namespace berth::roles {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

// One process being built, with what its env needs beyond the WorkerPlan.
struct Proc {
  WorkerPlan w;
  const SchedulingSpec* task = nullptr;
  int node_rank = 0;  // within a deferred instance
  int nnodes = 1;
};

// Port names are compared as their variables (BERTH_PORT_<NAME>): "Master"
// or "rendeZvous" declares berth's own port, which must not be added twice.
bool SamePort(std::string_view a, std::string_view b) { return PortEnvName(a) == PortEnvName(b); }

bool Declares(const SchedulingSpec& t, std::string_view port) {
  return std::any_of(t.ports.begin(), t.ports.end(),
                     [&](const std::string& p) { return SamePort(p, port); });
}

int PortNamed(const WorkerPlan& w, std::string_view name) {
  for (const auto& [n, p] : w.ports) {
    if (SamePort(n, name)) return p;
  }
  return 0;
}

std::string Devices(const std::vector<GpuShare>& gpus) {
  std::string out;
  for (const GpuShare& g : gpus) {
    if (!out.empty()) out += ',';
    out += std::to_string(g.device);
  }
  return out;
}

Status AddPort(Proc& p, const std::string& name, const EnvContext& ctx) {
  Result<int> port = ctx.ports(p.w.node);
  if (!port) {
    return {port.error().code(),
            "worker " + p.w.id + ", port " + name + ": " + port.error().message()};
  }
  p.w.ports.emplace_back(name, *port);
  return Status::Ok();
}

// torchrun's layout of a training role: per rank, its node's rank among the
// role's nodes (in order of first rank), its rank on that node, and how many
// ranks that node has.
struct RankLayout {
  std::vector<int> node_rank, local_rank, local_world;
};

RankLayout Layout(const std::vector<Proc>& procs) {
  RankLayout out;
  std::vector<std::string> nodes;
  std::vector<int> count;
  for (const Proc& p : procs) {
    auto it = std::find(nodes.begin(), nodes.end(), p.w.node);
    const int n = static_cast<int>(it - nodes.begin());
    if (it == nodes.end()) {
      nodes.push_back(p.w.node);
      count.push_back(0);
    }
    out.node_rank.push_back(n);
    out.local_rank.push_back(count[n]++);
  }
  for (int n : out.node_rank) out.local_world.push_back(count[n]);
  return out;
}

}  // namespace

Result<std::vector<WorkerPlan>> BuildWorkers(const RoleWorkers& given, const EnvContext& ctx) {
  const RoleSpec& role = *given.role;
  BERTH_RETURN_IF_ERROR(CheckLauncherPlacement(given));
  // torchrun per node: one process per node of the role, holding its ranks.
  NodeFold fold;
  const bool per_node = FoldRanksPerNode(given, fold);
  const RoleWorkers& in = per_node ? fold.in : given;
  // A torch world (RANK, MASTER_PORT ...) unless the role runs a server.
  const bool world = in.training && TorchWorld(role);
  std::vector<Proc> procs;
  for (size_t i = 0; i < in.slots.size(); ++i) {
    for (size_t r = 0; r < in.slots[i].size(); ++r) {
      const Slot& s = in.slots[i][r];
      Proc p;
      p.w.id = role.name + "/" + std::to_string(i);
      if (r != 0) {
        p.w.id += '.';
        p.w.id += std::to_string(r);
      }
      p.w.role = role.name;
      p.w.index = static_cast<int>(i);
      p.w.node = s.node;
      // No node: a bundle that lost its node (RolePlanner::RemoveNode),
      // built only to be dropped.
      auto address = ctx.addresses.find(s.node);
      p.w.address = address != ctx.addresses.end() ? address->second : std::string();
      p.w.gpus = s.gpus;
      p.w.group = s.group;
      p.w.bundle = s.bundle;
      if (!in.fork_of.empty() && !per_node && !in.fork_targets.empty()) {
        for (int t : in.fork_targets[i]) p.w.shares.push_back(in.fork_of + "/" + std::to_string(t));
        p.w.fork_of = p.w.shares.front();
      } else if (!in.fork_of.empty()) {
        p.w.fork_of = in.fork_of + "/" + std::to_string(per_node ? fold.first_rank[i] : i);
      }
      if (r == 0) p.w.readiness = LauncherReadiness(role);
      p.w.startup_timeout_s = role.startup_timeout_s;
      p.task = &(*in.tasks)[i];
      p.node_rank = static_cast<int>(r);
      p.nnodes = static_cast<int>(in.slots[i].size());
      procs.push_back(std::move(p));
    }
  }

  for (Proc& p : procs) {
    for (const std::string& name : p.task->ports) BERTH_RETURN_IF_ERROR(AddPort(p, name, ctx));
    for (const std::string& name : LauncherPorts(role, p.node_rank)) {
      if (!Declares(*p.task, name)) BERTH_RETURN_IF_ERROR(AddPort(p, name, ctx));
    }
    if (world && p.w.index == 0 && !Declares(*p.task, kMasterPort)) {
      BERTH_RETURN_IF_ERROR(AddPort(p, std::string(kMasterPort), ctx));
    }
    if (in.deferred && p.node_rank == 0 && !Declares(*p.task, kRendezvousPort)) {
      BERTH_RETURN_IF_ERROR(AddPort(p, std::string(kRendezvousPort), ctx));
    }
  }

  const bool rank_env = world && !per_node;
  const RankLayout ranks = rank_env ? Layout(procs) : RankLayout{};
  const int world_nodes = ranks.node_rank.empty() ? 1
                                                  : 1 + *std::max_element(ranks.node_rank.begin(),
                                                                          ranks.node_rank.end());
  std::vector<WorkerPlan> out;
  for (size_t k = 0; k < procs.size(); ++k) {
    Proc& p = procs[k];
    WorkerPlan& w = p.w;
    Env& env = w.env;
    env.emplace_back("BERTH_ROLE", role.name);
    env.emplace_back("BERTH_WORKER_ID", w.id);
    env.emplace_back("BERTH_NODE", w.node);
    for (const auto& [name, port] : w.ports)
      env.emplace_back(PortEnvName(name), std::to_string(port));
    env.emplace_back("CUDA_VISIBLE_DEVICES", Devices(w.gpus));
    env.emplace_back("CUDA_DEVICE_ORDER", "PCI_BUS_ID");
    if (rank_env) {
      const WorkerPlan& rank0 = procs[0].w;
      env.emplace_back("RANK", std::to_string(w.index));
      env.emplace_back("WORLD_SIZE", std::to_string(procs.size()));
      env.emplace_back("LOCAL_RANK", std::to_string(ranks.local_rank[k]));
      env.emplace_back("LOCAL_WORLD_SIZE", std::to_string(ranks.local_world[k]));
      env.emplace_back("NODE_RANK", std::to_string(ranks.node_rank[k]));
      env.emplace_back("MASTER_ADDR", rank0.address);
      env.emplace_back("MASTER_PORT", std::to_string(PortNamed(rank0, kMasterPort)));
    }
    if (in.deferred) {
      const WorkerPlan& head = procs[k - p.node_rank].w;
      env.emplace_back("NNODES", std::to_string(p.nnodes));
      env.emplace_back("NODE_RANK", std::to_string(p.node_rank));
      env.emplace_back("BERTH_HEAD_ADDR", head.address);
      env.emplace_back("BERTH_HEAD_PORT", std::to_string(PortNamed(head, kRendezvousPort)));
    }
    if (role.instance) {
      env.emplace_back("BERTH_TP", std::to_string(role.instance->first));
      env.emplace_back("BERTH_PP", std::to_string(role.instance->second));
    }
    LaunchFacts f;
    f.role_index = in.role_index;
    f.worker = w.id;
    if (world) {
      f.node_rank = per_node ? w.index : ranks.node_rank[k];
      f.nnodes = per_node ? static_cast<int>(procs.size()) : world_nodes;
      f.nproc = per_node ? fold.nproc[k] : 1;
      f.head_addr = procs[0].w.address;
      f.head_port = PortNamed(procs[0].w, kMasterPort);
    } else {
      const WorkerPlan& head = procs[k - p.node_rank].w;
      f.node_rank = p.node_rank;
      f.nnodes = p.nnodes;
      f.head_addr = head.address;
      f.head_port = PortNamed(head, kRendezvousPort);
      f.server_port = PortNamed(w, kServerPort);
    }
    if (role.launcher) AppendLauncherEnv(role, f, env);
    for (const auto& kv : p.task->env_vars) env.push_back(kv);

    if (role.launcher) {
      BERTH_ASSIGN_OR_RETURN(w.argv, LauncherArgv(role, f, env));
      continue;
    }
    for (size_t j = 0; j < p.task->cmd.size(); ++j) {
      Result<std::string> arg = ExpandPlaceholders(p.task->cmd[j], env);
      if (!arg) {
        return InvalidSpec(SpecPath(in.role_index, role, w.index) + ".cmd[" + std::to_string(j) +
                           "]: " + arg.error().message() + " (for worker " + w.id + ")");
      }
      w.argv.push_back(std::move(arg).value());
    }
  }
  // Moved out only now: the env of later workers reads rank 0's and the
  // head's address and ports.
  out.reserve(procs.size());
  for (Proc& p : procs) out.push_back(std::move(p.w));
  return out;
}

}  // namespace berth::roles
