#pragma once
// Launch presets (RoleSpec::launcher): the argv and env that torchrun, vLLM
// and SGLang expect, rendered from a role's placed workers, and the rules
// that keep a preset on a placement that can run it. The tools' flags and
// env: shared/reference/peers.md section 10; the format: docs/experiment.md,
// "Launch presets".
//
//   torchrun per-node  one process per node of the role (a fold of its ranks'
//                      bundles, FoldRanksPerNode): program --nnodes N
//                      --node-rank r --nproc-per-node k --master-addr A
//                      --master-port P args
//   torchrun per-rank  berth's ranks, program args, with torchrun's env
//   vllm               program --tensor-parallel-size tp
//                      --pipeline-parallel-size pp [--port P] and, for a
//                      multi-node instance, --nnodes --node-rank
//                      --master-addr --master-port (--headless off the head)
//   sglang             program --tp tp [--pp-size pp] --host 0.0.0.0
//                      --port P and, multi-node, --nnodes --node-rank
//                      --dist-init-addr head:port

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/experiment.h"
#include "berth/status.h"
#include "roles/worker_env.h"

namespace berth::roles {

// The port a vLLM or SGLang server listens on: added to the processes that
// serve (vLLM's head, every SGLang process) unless the spec declares it.
inline constexpr std::string_view kServerPort = "http";

// The program a preset runs when the role gives none.
std::vector<std::string> DefaultProgram(const LauncherSpec& launcher);

// The rules of a role's launcher that need no cluster: the kind against the
// placement (torchrun: a shared role without instance; vLLM and SGLang: an
// instance of GPUs), no cmd beside it, program and args well formed, no
// flag in args that berth renders. Errors start with the field path.
Status CheckLauncher(const RoleSpec& role, size_t role_index);

// A forked role (`role`, colocated with fork: true) against its target:
// torchrun needs a shared target; a target running one torchrun per node
// has no per-rank workers to stand on.
Status CheckLauncherColocation(const RoleSpec& role, size_t role_index, const RoleSpec& target);

// A variable the role's preset sets itself, refused in env_vars.
bool LauncherOwnsEnv(const RoleSpec& role, std::string_view name);
// Its list, for the message.
std::string LauncherOwnedEnvList(const RoleSpec& role);

// A port the preset adds to the role's serving processes (so a readiness
// check may name it without declaring it).
bool LauncherAddsPort(const RoleSpec& role, std::string_view port);
// The ports the preset adds to the process of node rank `node_rank` of an
// instance (0 for a single-node one).
std::vector<std::string> LauncherPorts(const RoleSpec& role, int node_rank);

// Whether the role's processes form a torch world (RANK, MASTER_PORT ...):
// no preset or torchrun. A vLLM or SGLang fork of a training role is a
// server, not a rank.
bool TorchWorld(const RoleSpec& role);
bool PerNodeTorchrun(const RoleSpec& role);

// What an instance's head is checked with: the role's readiness, or for
// vLLM and SGLang without one, GET /health on kServerPort.
Readiness LauncherReadiness(const RoleSpec& role);

// The placed instances against the preset: a vLLM or SGLang instance sees
// tp*pp devices in all, the same number on each of its nodes, and SGLang's
// pp split over nodes divides. Errors name the field and the fix.
Status CheckLauncherPlacement(const RoleWorkers& in);

// torchrun per node: the role's ranks folded into one process per node (in
// order of first rank), holding the bundles of its ranks (the first one's
// group and bundle, all their devices) and the first rank's spec.
struct NodeFold {
  RoleWorkers in;                     // in.tasks points at tasks
  std::vector<SchedulingSpec> tasks;  // per node
  std::vector<int> first_rank;        // per node: its first rank (a fork's target worker)
  std::vector<int> nproc;             // per node: its ranks
};
// False, leaving `out` as it is, unless the role runs torchrun per node.
bool FoldRanksPerNode(const RoleWorkers& in, NodeFold& out);

// One process as its preset sees it.
struct LaunchFacts {
  size_t role_index = 0;
  std::string worker;  // its id, for messages
  int node_rank = 0;   // in its instance, or among the torch world's nodes
  int nnodes = 1;
  int nproc = 1;          // torchrun per node: the ranks on this node
  std::string head_addr;  // torch: rank 0's node; vLLM, SGLang: the head's
  int head_port = 0;      // torch: MASTER_PORT; vLLM, SGLang: the head's rendezvous port
  int server_port = 0;    // vLLM, SGLang: this process's kServerPort; 0 for none
};

using Env = std::vector<std::pair<std::string, std::string>>;

// The preset's own variables, appended to `env`: torchrun per node NNODES,
// NODE_RANK, MASTER_ADDR, MASTER_PORT (the launcher's; torchrun gives its
// ranks the rest); per rank what torchrun would give beyond berth's
// training variables (GROUP_RANK, ROLE_RANK, TORCHELASTIC_* ...).
void AppendLauncherEnv(const RoleSpec& role, const LaunchFacts& f, Env& env);

// program, berth's flags, args; placeholders in program and args expanded
// against `env`.
Result<std::vector<std::string>> LauncherArgv(const RoleSpec& role, const LaunchFacts& f,
                                              const Env& env);

}  // namespace berth::roles
