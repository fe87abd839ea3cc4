// Launch presets, the rules: which placement can run which preset, what a
// role may not write beside one, and the placed instances against tp and pp.
// Every error names the field, the value, what is allowed and the fix.

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.h"
#include "roles/launcher.h"
#include "roles/placeholders.h"
#include "roles/tasks.h"

namespace berth::roles {
namespace {

using common::Quote;
using Kind = LauncherSpec::Kind;

Status At(const std::string& path, const std::string& what) {
  return InvalidSpec(path + ": " + what);
}

std::string Name(const RoleSpec& role) { return LauncherKindName(role.launcher->kind); }

// clang-format off
// What torchrun gives a rank beyond berth's training variables (per rank).
constexpr std::array<std::string_view, 8> kPerRankEnv = {
    "GROUP_RANK", "GROUP_WORLD_SIZE", "ROLE_NAME", "ROLE_RANK", "ROLE_WORLD_SIZE",
    "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_USE_AGENT_STORE"};

// The flags berth renders, per preset, as the tool spells them (and its
// aliases), and torchrun's that pick another rendezvous: an args element that
// sets one would fight berth's value.
constexpr std::array<std::string_view, 9> kTorchrunFlags = {
    "--nnodes", "--node-rank", "--nproc-per-node", "--master-addr", "--master-port",
    "--standalone", "--rdzv-endpoint", "--rdzv-backend", "--rdzv-conf"};
constexpr std::array<std::string_view, 10> kVllmFlags = {
    "--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--port",
    "--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless"};
constexpr std::array<std::string_view, 11> kSglangFlags = {
    "--tp", "--tp-size", "--tensor-parallel-size", "--pp-size", "--pipeline-parallel-size",
    "--nnodes", "--node-rank", "--dist-init-addr", "--nccl-init-addr", "--port", "--host"};
// clang-format on

// "--node_rank=1" -> "--node-rank" (torchrun and vLLM accept both spellings).
std::string FlagName(std::string_view arg) {
  std::string name(arg.substr(0, arg.find('=')));
  const size_t dashes = name.rfind("--", 0) == 0 ? 2 : 1;
  std::replace(name.begin() + static_cast<std::ptrdiff_t>(dashes), name.end(), '_', '-');
  return name;
}

template <size_t N>
bool Among(const std::array<std::string_view, N>& flags, std::string_view name) {
  return std::find(flags.begin(), flags.end(), name) != flags.end();
}

// An element of args that sets a flag berth renders. torchrun's args hold
// the script and then the script's own arguments: only the flags before the
// script are torchrun's.
Status CheckArgs(const RoleSpec& role, const std::string& path) {
  const LauncherSpec& l = *role.launcher;
  if (l.kind == Kind::kTorchrun && l.mode == LauncherSpec::Mode::kPerRank) return Status::Ok();
  for (size_t i = 0; i < l.args.size(); ++i) {
    const std::string& a = l.args[i];
    if (a.empty() || a[0] != '-') {
      if (l.kind == Kind::kTorchrun) break;
      continue;
    }
    const std::string name = FlagName(a);
    const bool rendered = l.kind == Kind::kTorchrun ? Among(kTorchrunFlags, name)
                          : l.kind == Kind::kVllm   ? Among(kVllmFlags, name)
                                                    : Among(kSglangFlags, name);
    if (rendered) {
      return At(path + ".args[" + std::to_string(i) + "]",
                Quote(a) + " sets " + name + ", which berth decides for kind " + Name(role) +
                    " from the plan (" +
                    (l.kind == Kind::kTorchrun
                         ? "node count and rank, processes per node, rank 0's address and port"
                         : "node count and rank, head address and ports; tp and pp come from "
                           "instance: {tp, pp}") +
                    "); remove it");
    }
  }
  return Status::Ok();
}

Status CheckWords(const std::vector<std::string>& words, const std::string& path) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (words[i].find('\0') != std::string::npos) {
      return At(at, "holds a NUL byte, which an argv cannot carry");
    }
    Status st = CheckPlaceholders(words[i]);
    if (!st.ok()) return At(at, st.message());
  }
  return Status::Ok();
}

Status CheckTorchrun(const RoleSpec& role, size_t r) {
  const std::string path = RolePath(r) + ".launcher";
  if (!role.colocation) {
    if (role.instance) {
      return At(path + ".kind",
                "torchrun starts one training world over the role's ranks, but the role has "
                "instance {tp, pp} (inference instances, one placement group each); remove "
                "instance, or use kind vllm or sglang for a server");
    }
    if (role.placement != PlacementMode::kShared) {
      return At(path + ".kind", std::string("torchrun starts one training world over the role's "
                                            "ranks and needs placement: shared (one group, one "
                                            "bundle per rank), not ") +
                                    PlacementModeName(role.placement) +
                                    "; set placement: shared, or use kind vllm or sglang for "
                                    "independent servers");
    }
  }
  if (role.launcher->mode != LauncherSpec::Mode::kPerNode) return Status::Ok();
  if (role.tasks.size() > 1) {
    return At(RolePath(r) + ".scheduling_spec",
              "has one spec per rank, but one torchrun per node starts all of a node's ranks "
              "with one environment; give one scheduling_spec, or set launcher mode: per-rank");
  }
  for (size_t w = 0; w < role.tasks.size(); ++w) {
    const Quantity gpu = role.tasks[w].gpu;
    if (!gpu.IsZero() && gpu < Quantity::Whole(1)) {
      return At(SpecPath(r, role, w) + ".gpu",
                gpu.ToString() +
                    " is a share of one device, but one torchrun per node hands its ranks whole "
                    "devices (rank j uses cuda:j of the node's); give whole GPUs, or set "
                    "launcher mode: per-rank");
    }
  }
  return Status::Ok();
}

Status CheckServer(const RoleSpec& role, size_t r) {
  const std::string path = RolePath(r) + ".launcher";
  if (!role.instance) {
    return At(path + ".kind", Name(role) +
                                  " serves instances of tp x pp GPUs and needs the role's "
                                  "instance: {tp, pp}; add instance: {tp: 1, pp: 1} (or the "
                                  "sizes you serve with)");
  }
  if (role.launcher->mode != LauncherSpec::Mode::kPerNode) {
    return At(path + ".mode", "only applies to kind torchrun; remove it");
  }
  for (size_t w = 0; w < role.tasks.size(); ++w) {
    if (role.tasks[w].gpu.IsZero()) {
      return At(SpecPath(r, role, w) + ".gpu",
                "is 0, but a " + Name(role) +
                    " instance runs on tp*pp GPUs; give gpu: 1 (scaled to tp*pp per instance)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckLauncher(const RoleSpec& role, size_t r) {
  if (!role.launcher) return Status::Ok();
  const std::string path = RolePath(r) + ".launcher";
  if (role.colocation && !role.colocation->fork) {
    return At(path, "an alias (fork: false) starts no process; remove launcher, or set fork: true");
  }
  const LauncherSpec& l = *role.launcher;
  BERTH_RETURN_IF_ERROR(CheckWords(l.program, path + ".program"));
  BERTH_RETURN_IF_ERROR(CheckWords(l.args, path + ".args"));
  for (size_t w = 0; w < role.tasks.size(); ++w) {
    if (!role.tasks[w].cmd.empty()) {
      return At(SpecPath(r, role, w) + ".cmd",
                "is given beside launcher (kind " + Name(role) +
                    "), which renders the command; remove cmd and put the program's own "
                    "arguments in launcher.args (or its entry point in launcher.program)");
    }
  }
  BERTH_RETURN_IF_ERROR(l.kind == Kind::kTorchrun ? CheckTorchrun(role, r) : CheckServer(role, r));
  return CheckArgs(role, path);
}

Status CheckLauncherColocation(const RoleSpec& role, size_t r, const RoleSpec& target) {
  if (PerNodeTorchrun(target)) {
    return At(RolePath(r) + ".scheduling_strategy.target",
              Quote(target.name) +
                  " runs one torchrun per node (launcher mode per-node), so it has no per-rank "
                  "worker for a fork to stand on; set its launcher mode: per-rank, or place "
                  "this role on its own");
  }
  if (role.launcher && role.launcher->kind == Kind::kTorchrun &&
      (target.placement != PlacementMode::kShared || target.instance)) {
    return At(RolePath(r) + ".launcher.kind",
              "torchrun on a fork joins the ranks of a training target, but " + Quote(target.name) +
                  " is not a shared role without instance; colocate onto a training role, or "
                  "use kind vllm or sglang");
  }
  return Status::Ok();
}

bool LauncherOwnsEnv(const RoleSpec& role, std::string_view name) {
  if (!role.launcher || role.launcher->kind != Kind::kTorchrun ||
      role.launcher->mode != LauncherSpec::Mode::kPerRank) {
    return false;
  }
  return Among(kPerRankEnv, name);
}

std::string LauncherOwnedEnvList(const RoleSpec& role) {
  if (!role.launcher) return "";
  std::string out;
  for (std::string_view n : kPerRankEnv) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

Status CheckLauncherPlacement(const RoleWorkers& in) {
  const RoleSpec& role = *in.role;
  if (!role.launcher || TorchWorld(role) || !role.instance) return Status::Ok();
  const auto [tp, pp] = *role.instance;
  const int64_t want = int64_t{tp} * pp;
  const std::string path = RolePath(in.role_index) + ".instance";
  const std::string kind = Name(role);
  for (size_t i = 0; i < in.slots.size(); ++i) {
    const std::vector<Slot>& nodes = in.slots[i];
    // A bundle that lost its node is built only to be dropped (RolePlanner::Rebuild).
    if (std::any_of(nodes.begin(), nodes.end(), [](const Slot& s) { return s.node.empty(); })) {
      continue;
    }
    const std::string id = role.name + "/" + std::to_string(i);
    int64_t total = 0;
    std::string split;
    for (const Slot& s : nodes) {
      total += static_cast<int64_t>(s.gpus.size());
      split += (split.empty() ? "" : " + ") + std::to_string(s.gpus.size());
    }
    if (total != want) {
      const std::string where = in.fork_of.empty()
                                    ? "its placement holds "
                                    : "a fork runs on its target's devices, and " + in.fork_of +
                                          "/" + std::to_string(i) + " holds ";
      return At(path, "tp*pp = " + std::to_string(want) + " GPUs, but " + where +
                          std::to_string(total) + " device(s) for " + id + "; " + kind +
                          " must see exactly tp*pp devices: make tp*pp " + std::to_string(total) +
                          (in.fork_of.empty() ? ""
                                              : ", or place the role on its own "
                                                "(scheduling_strategy: {type: separation})"));
    }
    const auto n = static_cast<int64_t>(nodes.size());
    if (n <= 1) continue;
    const auto per_node = static_cast<int64_t>(nodes.front().gpus.size());
    const bool even = std::all_of(nodes.begin(), nodes.end(), [&](const Slot& s) {
      return static_cast<int64_t>(s.gpus.size()) == per_node;
    });
    if (!even) {
      return At(path, "tp*pp = " + std::to_string(want) + " GPUs of " + id + " are split over " +
                          std::to_string(n) + " nodes as " + split +
                          " (node-sized bundles, the "
                          "rest last), but " +
                          kind +
                          " runs the same number of GPUs on every node of an instance; make "
                          "tp*pp a multiple of the GPUs per node (" +
                          std::to_string(per_node) + ")");
    }
    if (role.launcher->kind != Kind::kSglang) continue;
    // SGLang lays the stages out over nodes: nodes/pp nodes per tp group
    // when there are at least pp nodes, else pp/nodes stages per node.
    // (With the same GPUs on every node, tp then divides over a stage's
    // nodes: tp*pp = k*n and n = m*pp give tp = k*m.)
    if (n >= pp && n % pp != 0) {
      return At(path + ".pp", std::to_string(pp) + " pipeline stages do not divide the " +
                                  std::to_string(n) + " nodes of " + id +
                                  "; SGLang gives each stage nodes/pp nodes: make pp divide " +
                                  std::to_string(n));
    }
    if (n < pp && pp % n != 0) {
      return At(path + ".pp", std::to_string(n) + " nodes of " + id + " do not divide the " +
                                  std::to_string(pp) +
                                  " pipeline stages; SGLang runs pp/nodes stages per node: make "
                                  "pp a multiple of " +
                                  std::to_string(n));
    }
  }
  return Status::Ok();
}

}  // namespace berth::roles
