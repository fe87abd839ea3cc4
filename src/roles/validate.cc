// ValidateExperiment: the rules of an experiment that do not depend on the
// cluster. The YAML adapter checks types and keys (and points at lines); this
// checks values and the relations between roles, for parsed and hand-built
// experiments alike.

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "berth/experiment.h"
#include "common/text.h"
#include "roles/comm_groups.h"
#include "roles/launcher.h"
#include "roles/limits.h"
#include "roles/names.h"
#include "roles/placeholders.h"
#include "roles/tasks.h"

namespace berth {

using common::Quote;
namespace {

using roles::RolePath;
using roles::SpecPath;

template <typename T>
Status StatusOf(const Result<T>& r) {
  return r ? Status::Ok() : r.error();
}

Status At(const std::string& path, const std::string& what) {
  return InvalidSpec(path + ": " + what);
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

Status CheckSpec(const SchedulingSpec& s, const std::string& path, const RoleSpec& role) {
  if (s.cpu.units() < 0) return At(path + ".cpu", s.cpu.ToString() + " is negative; give >= 0");
  if (s.gpu.units() < 0) return At(path + ".gpu", s.gpu.ToString() + " is negative; give >= 0");
  if (s.gpu >= Quantity::Whole(1) && !s.gpu.IsWhole()) {
    return At(path + ".gpu", s.gpu.ToString() +
                                 " is not whole; ask for a whole number of devices, or below 1 "
                                 "for a share of one device");
  }
  BERTH_RETURN_IF_ERROR(StatusOf(roles::MemBytes(s.mem_gib, path + ".mem")));
  if (s.cmd.empty() && !role.launcher) {
    return At(path + ".cmd", "is empty; give the worker's argv, like [python, -m, my.server]");
  }
  for (size_t i = 0; i < s.cmd.size(); ++i) {
    const std::string at = path + ".cmd[" + std::to_string(i) + "]";
    if (HasNul(s.cmd[i])) return At(at, "holds a NUL byte, which an argv cannot carry");
    Status st = roles::CheckPlaceholders(s.cmd[i]);
    if (!st.ok()) return At(at, st.message());
  }
  std::map<std::string, size_t> port_env;  // BERTH_PORT_X -> index
  for (size_t i = 0; i < s.ports.size(); ++i) {
    const std::string at = path + ".ports[" + std::to_string(i) + "]";
    if (!roles::IsValidPortName(s.ports[i])) {
      return At(at, Quote(s.ports[i]) +
                        " is not a port name; use 1-64 of [A-Za-z0-9_-], starting with a letter");
    }
    auto [it, inserted] = port_env.emplace(roles::PortEnvName(s.ports[i]), i);
    if (!inserted) {
      return At(at, Quote(s.ports[i]) + " duplicates ports[" + std::to_string(it->second) +
                        "] (both become " + it->first + "); give each port once");
    }
  }
  std::set<std::string> env_names;
  for (const auto& [name, value] : s.env_vars) {
    const std::string at = path + ".env_vars." + name;
    if (!roles::IsValidEnvName(name)) {
      return At(path + ".env_vars", Quote(name) +
                                        " is not an environment variable name; use "
                                        "[A-Za-z_][A-Za-z0-9_]*");
    }
    if (roles::IsBerthOwnedEnv(name)) {
      return At(at, name + " is set by berth and cannot be overridden (berth sets " +
                        roles::BerthOwnedEnvList() +
                        "); use another name, or use berth's value through {" + name + "} in cmd");
    }
    if (roles::LauncherOwnsEnv(role, name)) {
      return At(at, name + " is set by the role's launcher (kind torchrun, mode per-rank, sets " +
                        roles::LauncherOwnedEnvList(role) + "); use another name");
    }
    if (!env_names.insert(name).second) return At(at, "is given twice; give each name once");
    if (HasNul(value)) return At(at, "holds a NUL byte, which an environment cannot carry");
  }
  return Status::Ok();
}

Status CheckReadiness(const RoleSpec& role, size_t r) {
  const Readiness& rd = role.readiness;
  const std::string path = RolePath(r) + ".readiness";
  if (rd.kind == Readiness::Kind::kNone) return Status::Ok();
  const char* kind = rd.kind == Readiness::Kind::kTcp ? "tcp" : "http";
  const std::string at = path + (rd.kind == Readiness::Kind::kTcp ? ".tcp" : ".http.port");
  for (size_t w = 0; w < role.tasks.size(); ++w) {
    const auto& ports = role.tasks[w].ports;
    // A launcher's server port counts as declared: berth adds it.
    bool found = roles::LauncherAddsPort(role, rd.port);
    std::string names;
    for (const std::string& p : ports) {
      found = found || p == rd.port;
      names += (names.empty() ? "" : ", ") + p;
    }
    if (!found) {
      return At(at, Quote(rd.port) + " is not among the ports of " + SpecPath(r, role, w) + " (" +
                        (names.empty() ? "none" : names) + "); a " + kind +
                        " check needs one of the worker's named ports");
    }
  }
  if (rd.kind == Readiness::Kind::kHttp) {
    bool bad = rd.path.empty() || rd.path[0] != '/';
    for (char c : rd.path) bad = bad || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    if (bad) {
      return At(path + ".http.path",
                Quote(rd.path) + " is not a URL path; give one starting with '/', like /health");
    }
  }
  return Status::Ok();
}

std::string SecondsText(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

// Seconds in (0, most], or an error at `path`.
Status CheckSeconds(double s, double most, const std::string& path) {
  if (std::isfinite(s) && s > 0 && s <= most) return Status::Ok();
  return At(path, SecondsText(s) + " is outside (0, " + SecondsText(most) + "] seconds");
}

Status CheckFailurePolicy(const RoleSpec& role, size_t r) {
  const FailurePolicy& f = role.on_failure;
  const std::string path = RolePath(r);
  if (role.colocation) {
    if (f.action != FailurePolicy::Action::kFail || f.min_replicas) {
      return At(path + ".on_failure",
                "a colocated role is restarted and dropped with its target; give the policy to "
                "role " +
                    Quote(role.colocation->target));
    }
    return Status::Ok();
  }
  if (f.max_restarts < 0 || f.max_restarts > roles::kMaxRestarts) {
    return At(path + ".restart.max_restarts", std::to_string(f.max_restarts) + " is outside 0.." +
                                                  std::to_string(roles::kMaxRestarts));
  }
  BERTH_RETURN_IF_ERROR(
      CheckSeconds(f.window_s, roles::kMaxRestartWindowS, path + ".restart.window_s"));
  BERTH_RETURN_IF_ERROR(
      CheckSeconds(f.backoff_initial_s, roles::kMaxBackoffS, path + ".restart.backoff_s[0]"));
  BERTH_RETURN_IF_ERROR(
      CheckSeconds(f.backoff_max_s, roles::kMaxBackoffS, path + ".restart.backoff_s[1]"));
  if (f.backoff_max_s < f.backoff_initial_s) {
    return At(path + ".restart.backoff_s",
              "the longest wait (" + SecondsText(f.backoff_max_s) + ") is below the first (" +
                  SecondsText(f.backoff_initial_s) + "); give [first, longest]");
  }
  // One gang: the ranks of a shared role (training) live and die together.
  const bool gang = role.placement == PlacementMode::kShared && !role.instance;
  if (gang && f.action == FailurePolicy::Action::kDrop) {
    return At(path + ".on_failure",
              "drop would leave a shared role (one gang, like training ranks) running with a "
              "rank missing; use restart or fail, or placement: separate for independent "
              "instances");
  }
  if (f.min_replicas) {
    if (f.action == FailurePolicy::Action::kFail) {
      return At(path + ".min_replicas", "only applies to on_failure: restart or drop; remove it");
    }
    if (gang) {
      return At(path + ".min_replicas",
                "a shared role restarts as one gang and has no instance to lose; remove it, or "
                "use placement: separate");
    }
    if (*f.min_replicas < 1 || *f.min_replicas > role.replicas) {
      return At(path + ".min_replicas", std::to_string(*f.min_replicas) +
                                            " is outside 1..replicas (" +
                                            std::to_string(role.replicas) + ")");
    }
  }
  return Status::Ok();
}

Status CheckRole(const RoleSpec& role, size_t r) {
  const std::string path = RolePath(r);
  if (!roles::IsValidRoleName(role.name)) {
    return At(path + ".name", Quote(role.name) +
                                  " is not a role name; use 1-64 of [A-Za-z0-9_.-], starting "
                                  "with a letter or digit");
  }
  if (role.replicas < 1 || role.replicas > roles::kMaxReplicas) {
    return At(path + ".replicas", std::to_string(role.replicas) + " is outside 1.." +
                                      std::to_string(roles::kMaxReplicas));
  }
  if (role.instance) {
    const auto [tp, pp] = *role.instance;
    if (tp < 1 || tp > roles::kMaxInstance) {
      return At(path + ".instance.tp",
                std::to_string(tp) + " is outside 1.." + std::to_string(roles::kMaxInstance));
    }
    if (pp < 1 || pp > roles::kMaxInstance || int64_t{tp} * pp > roles::kMaxInstance) {
      return At(path + ".instance.pp",
                std::to_string(pp) + " is outside 1.." + std::to_string(roles::kMaxInstance) +
                    " or tp*pp is above " + std::to_string(roles::kMaxInstance));
    }
  }
  if (!(std::isfinite(role.startup_timeout_s) && role.startup_timeout_s > 0 &&
        role.startup_timeout_s <= roles::kMaxStartupTimeoutS)) {
    return At(path + ".startup_timeout",
              std::to_string(role.startup_timeout_s) + " is outside (0, " +
                  std::to_string(static_cast<int>(roles::kMaxStartupTimeoutS)) + "] seconds");
  }
  BERTH_RETURN_IF_ERROR(CheckFailurePolicy(role, r));
  BERTH_RETURN_IF_ERROR(roles::CheckLauncher(role, r));
  const bool alias = role.colocation && !role.colocation->fork;
  if (alias) {
    if (!role.tasks.empty()) {
      return At(path + ".scheduling_spec",
                "an alias (colocation with fork: false) starts no process of its own; remove "
                "scheduling_spec, or set fork: true");
    }
    if (role.instance) {
      return At(path + ".instance", "an alias (fork: false) has no instances; remove instance");
    }
    if (role.readiness.kind != Readiness::Kind::kNone) {
      return At(path + ".readiness", "an alias (fork: false) has no process to check; remove it");
    }
    return Status::Ok();
  }
  if (role.tasks.empty()) {
    return At(path + ".scheduling_spec", "is missing; give the workers' cpu, gpu, mem and cmd");
  }
  if (role.tasks.size() != 1 && role.tasks.size() != static_cast<size_t>(role.replicas)) {
    return At(path + ".scheduling_spec", "spec count must be 1 or match replicas; got " +
                                             std::to_string(role.tasks.size()) + " specs for " +
                                             std::to_string(role.replicas) + " replicas");
  }
  for (size_t w = 0; w < role.tasks.size(); ++w) {
    BERTH_RETURN_IF_ERROR(CheckSpec(role.tasks[w], SpecPath(r, role, w), role));
    // A group's bundle must ask for something; a fork adds to its target's.
    const SchedulingSpec& s = role.tasks[w];
    if (!role.colocation && s.cpu.IsZero() && s.gpu.IsZero() && s.mem_gib.IsZero()) {
      return At(SpecPath(r, role, w),
                "cpu, gpu and mem are all 0; a worker must reserve something to be placed "
                "(a small cpu such as 0.1 will do)");
    }
    if (role.colocation && !s.node_selector.empty()) {
      return At(SpecPath(r, role, w) + ".node_selector",
                "a colocated role runs on its target's nodes; put the node_selector on " +
                    Quote(role.colocation->target));
    }
  }
  return CheckReadiness(role, r);
}

// The colocation rules, once every role is known to be well formed.
Status CheckColocation(const ExperimentSpec& e, const std::map<std::string, size_t>& by_name) {
  for (size_t r = 0; r < e.roles.size(); ++r) {
    const RoleSpec& role = e.roles[r];
    if (!role.colocation) continue;
    const std::string at = RolePath(r) + ".scheduling_strategy.target";
    const std::string& target = role.colocation->target;
    auto it = by_name.find(target);
    if (it == by_name.end()) {
      std::string names;
      for (const RoleSpec& other : e.roles) names += (names.empty() ? "" : ", ") + other.name;
      return At(at, target.empty() ? "is missing; a colocated role needs the role it shares"
                                     " (one of: " +
                                         names + ")"
                                   : "no role is named " + Quote(target) + "; roles: " + names);
    }
    const RoleSpec& t = e.roles[it->second];
    if (t.colocation) {
      // Follow the chain: back to this role is a cycle, else it is a chain.
      std::string chain = role.name;
      const RoleSpec* cur = &role;
      std::set<std::string> seen = {role.name};
      while (cur->colocation && by_name.contains(cur->colocation->target)) {
        cur = &e.roles[by_name.at(cur->colocation->target)];
        chain += " -> " + cur->name;
        if (!seen.insert(cur->name).second) break;
      }
      if (cur->name == role.name || target == role.name) {
        return At(at, "colocation cycle: " + chain +
                          "; one role of the cycle must be placed on "
                          "its own (scheduling_strategy: {type: separation})");
      }
      return At(at, Quote(target) + " is itself colocated onto " + Quote(t.colocation->target) +
                        "; colocate onto " + Quote(t.colocation->target) + " directly");
    }
    // Grouped (N:M, AReaL #1575): fork instance j over k of a training
    // role's workers on one node (roles/role_planner.cc, GroupedBlocks).
    const bool grouped = role.colocation->fork && role.replicas > 0 && t.replicas > role.replicas &&
                         t.replicas % role.replicas == 0;
    if (role.replicas != t.replicas && !grouped) {
      return At(RolePath(r) + ".replicas",
                "Replica count mismatch: " + Quote(role.name) + " has " +
                    std::to_string(role.replicas) + " replicas but its target " + Quote(t.name) +
                    " has " + std::to_string(t.replicas) +
                    "; a colocated role pairs worker i with target worker i, so the counts must "
                    "be equal (or, for a fork onto a training role, divide its count: each "
                    "instance then runs over that many of its workers on one node)");
    }
    if (grouped && (t.placement != PlacementMode::kShared || t.instance)) {
      return At(RolePath(r) + ".replicas",
                std::to_string(role.replicas) + " instances over " + std::to_string(t.replicas) +
                    " workers of " + Quote(t.name) +
                    ": grouped colocation runs a fork over several workers of a training role "
                    "(placement shared), which restart together; " +
                    Quote(t.name) + " is placed per instance, so give " + Quote(role.name) + " " +
                    std::to_string(t.replicas) + " replicas");
    }
    if (!role.colocation->fork) continue;
    BERTH_RETURN_IF_ERROR(roles::CheckLauncherColocation(role, r, t));
    // A fork shares its target's devices; it cannot see more of them.
    BERTH_ASSIGN_OR_RETURN(std::vector<SchedulingSpec> mine, roles::WorkerTasks(role, r));
    BERTH_ASSIGN_OR_RETURN(std::vector<SchedulingSpec> theirs, roles::WorkerTasks(t, it->second));
    const size_t k = theirs.size() / mine.size();
    for (size_t w = 0; w < mine.size(); ++w) {
      Quantity has;
      for (size_t i = w * k; i < (w + 1) * k; ++i) has = has + theirs[i].gpu;
      if (mine[w].gpu > has) {
        const std::string of =
            k == 1 ? Quote(t.name) + "/" + std::to_string(w)
                   : std::to_string(k) + " workers of " + Quote(t.name) + " it runs over";
        return At(SpecPath(r, role, w) + ".gpu",
                  mine[w].gpu.ToString() + " is more than the " + has.ToString() +
                      " GPU of its target " + of +
                      "; a forked worker shares its target's devices (no extra reservation), "
                      "so give at most " +
                      has.ToString());
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const char* BackendName(Backend b) { return b == Backend::kSlurm ? "slurm" : "local"; }

Status ValidateExperiment(const ExperimentSpec& e) {
  if (!roles::IsValidRoleName(e.name)) {
    return At("name", Quote(e.name) +
                          " is not an experiment name; use 1-64 of [A-Za-z0-9_.-], starting "
                          "with a letter or digit");
  }
  if (e.cluster_file && (e.gpus || e.cpu || e.mem_gib)) {
    return At("cluster",
              "give either file (a cluster of nodes) or gpus/cpu/mem (this machine), "
              "not both");
  }
  if (e.cluster_file && e.cluster_file->empty()) return At("cluster.file", "is empty");
  if (e.backend == Backend::kSlurm && (e.cluster_file || e.gpus || e.cpu || e.mem_gib)) {
    return At("cluster", "is read from Slurm with backend: slurm; remove cluster");
  }
  if (!e.slurm.partition.empty() && !roles::IsValidRoleName(e.slurm.partition)) {
    return At("slurm.partition",
              Quote(e.slurm.partition) + " is not a partition name; use 1-64 of [A-Za-z0-9_.-]");
  }
  if (!(e.slurm.queue_timeout_s > 0)) return At("slurm.queue_timeout", "must be above 0 seconds");
  if (e.gpus && (*e.gpus < 0 || *e.gpus > roles::kMaxLocalGpus)) {
    return At("cluster.gpus",
              std::to_string(*e.gpus) + " is outside 0.." + std::to_string(roles::kMaxLocalGpus));
  }
  if (e.cpu && e.cpu->units() <= 0) return At("cluster.cpu", "must be above 0");
  if (e.mem_gib) {
    if (e.mem_gib->units() <= 0) return At("cluster.mem", "must be above 0");
    BERTH_RETURN_IF_ERROR(StatusOf(roles::MemBytes(*e.mem_gib, "cluster.mem")));
  }
  if (e.roles.empty()) return At("roles", "is empty; give at least one role");
  std::map<std::string, size_t> by_name;
  for (size_t r = 0; r < e.roles.size(); ++r) {
    BERTH_RETURN_IF_ERROR(CheckRole(e.roles[r], r));
    auto [it, inserted] = by_name.emplace(e.roles[r].name, r);
    if (!inserted) {
      return At(RolePath(r) + ".name", Quote(e.roles[r].name) + " is also the name of " +
                                           RolePath(it->second) + "; role names must be unique");
    }
  }
  BERTH_RETURN_IF_ERROR(CheckColocation(e, by_name));
  return roles::CheckCommGroups(e);
}

}  // namespace berth
