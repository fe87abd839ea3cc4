// MakePlan: roles -> placement groups on the engine -> workers. The shapes
// of the groups follow AReaL #966 (see include/berth/plan.h); what each
// worker is told (env, argv) is built in worker_env.cc.

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "berth/plan.h"
#include "roles/explain_text.h"
#include "roles/tasks.h"
#include "roles/worker_env.h"

namespace berth {
namespace {

using roles::RolePath;
using roles::Slot;

// One role as the planner sees it.
struct RolePlan {
  size_t index = 0;  // in experiment.roles
  const RoleSpec* spec = nullptr;
  std::vector<SchedulingSpec> tasks;            // one per worker, scaled; empty for an alias
  PlacementMode mode = PlacementMode::kShared;  // after the rollout and auto-deferral rules
  int target = -1;                              // colocated: the target's index
  // Non-colocated roles: per worker (instance), its bundles' requests, then
  // where they landed.
  std::vector<std::vector<ResourceSet>> requests;
  std::vector<std::vector<Slot>> slots;
};

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string RoleLabel(const RolePlan& r) { return RolePath(r.index) + " (" + r.spec->name + ")"; }

ResourceSet Request(Quantity cpu, Quantity gpu, Quantity mem_bytes) {
  ResourceSet set;
  if (!cpu.IsZero()) set.Set(kCpu, cpu);
  if (!gpu.IsZero()) set.Set(kGpu, gpu);
  if (!mem_bytes.IsZero()) set.Set(kMemory, mem_bytes);
  return set;
}

// A quantity as SplitInstance's integer: whole ones in whole units, as AReaL
// computes them; fractional ones in 1e-4 steps, the same arithmetic on the
// smallest unit. `scale` turns the result back into units.
int64_t SplitUnits(Quantity q, int64_t* scale) {
  *scale = q.IsWhole() ? Quantity::kScale : 1;
  return q.IsWhole() ? q.WholePart() : q.units();
}

// The bundles of one deferred instance.
Result<std::vector<ResourceSet>> DeferredBundles(const SchedulingSpec& t, int64_t gpus_per_node,
                                                 const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Quantity mem, roles::MemBytes(t.mem_gib, path + ".mem"));
  if (gpus_per_node <= 0 || t.gpu <= Quantity::Whole(gpus_per_node)) {
    // Fits one node (or no node has GPUs: the engine explains that).
    return std::vector<ResourceSet>{Request(t.cpu, t.gpu, mem)};
  }
  int64_t cpu_scale, mem_scale;
  const int64_t cpu = SplitUnits(t.cpu, &cpu_scale);
  const int64_t mem_gib = SplitUnits(t.mem_gib, &mem_scale);
  Result<std::vector<SplitBundle>> split =
      SplitInstance(gpus_per_node, cpu, t.gpu.WholePart(), mem_gib);
  if (!split) return Status(split.error().code(), path + ": " + split.error().message());
  std::vector<ResourceSet> out;
  for (const SplitBundle& b : *split) {
    BERTH_ASSIGN_OR_RETURN(Quantity bytes,
                           roles::MemBytes(Quantity::Units(b.mem * mem_scale), path + ".mem"));
    out.push_back(Request(Quantity::Units(b.cpu * cpu_scale), Quantity::Whole(b.gpu), bytes));
  }
  return out;
}

// Builds each role's view: scaled tasks, the effective mode, the bundles.
Result<std::vector<RolePlan>> Layout(const ExperimentSpec& e, int64_t gpus_per_node,
                                     std::vector<std::string>& warnings) {
  std::map<std::string, int> by_name;
  for (size_t r = 0; r < e.roles.size(); ++r) by_name[e.roles[r].name] = static_cast<int>(r);
  std::vector<RolePlan> roles(e.roles.size());
  for (size_t r = 0; r < e.roles.size(); ++r) {
    RolePlan& rp = roles[r];
    rp.index = r;
    rp.spec = &e.roles[r];
    BERTH_ASSIGN_OR_RETURN(rp.tasks, roles::WorkerTasks(*rp.spec, r));
    if (rp.spec->colocation) {
      rp.target = by_name.at(rp.spec->colocation->target);
      continue;
    }
    rp.mode = rp.spec->placement;
    if (rp.spec->instance && rp.mode == PlacementMode::kShared) {
      rp.mode = PlacementMode::kSeparate;
      warnings.push_back(RoleLabel(rp) +
                         ": placement shared is turned into separate: a role with an instance "
                         "runs one placement group per instance, as AReaL's RolloutController "
                         "does");
    }
    if (rp.mode == PlacementMode::kSeparate && gpus_per_node > 0) {
      Quantity most;
      for (const SchedulingSpec& t : rp.tasks) most = std::max(most, t.gpu);
      if (most > Quantity::Whole(gpus_per_node)) {
        rp.mode = PlacementMode::kDeferred;
        warnings.push_back(RoleLabel(rp) + ": an instance needs " + most.ToString() +
                           " GPUs but the largest node has " + std::to_string(gpus_per_node) +
                           "; placed as deferred: each instance is split into node-sized "
                           "bundles on distinct nodes (STRICT_SPREAD), one process per node");
      }
    }
    for (size_t w = 0; w < rp.tasks.size(); ++w) {
      const SchedulingSpec& t = rp.tasks[w];
      const std::string path = roles::SpecPath(r, *rp.spec, w);
      if (rp.mode == PlacementMode::kDeferred) {
        BERTH_ASSIGN_OR_RETURN(std::vector<ResourceSet> b, DeferredBundles(t, gpus_per_node, path));
        rp.requests.push_back(std::move(b));
      } else {
        BERTH_ASSIGN_OR_RETURN(Quantity mem, roles::MemBytes(t.mem_gib, path + ".mem"));
        rp.requests.push_back({Request(t.cpu, t.gpu, mem)});
      }
    }
  }
  // Fork accounting: a placed bundle cannot grow, so the fork's cpu and mem
  // are added to its target's request before anything is placed. Its GPU is
  // the target's devices, shared (ValidateExperiment keeps it <= the target's).
  for (RolePlan& rp : roles) {
    if (rp.target < 0 || !rp.spec->colocation->fork) continue;
    RolePlan& t = roles[rp.target];
    for (size_t w = 0; w < rp.tasks.size(); ++w) {
      ResourceSet& head = t.requests[w][0];  // a deferred instance's head bundle
      const std::string path = roles::SpecPath(rp.index, *rp.spec, w);
      BERTH_ASSIGN_OR_RETURN(Quantity mem, roles::MemBytes(rp.tasks[w].mem_gib, path + ".mem"));
      const Quantity cpu = head.Get(kCpu) + rp.tasks[w].cpu;
      const Quantity bytes = head.Get(kMemory) + mem;
      if (cpu.units() > Quantity::kMaxUnits || bytes.units() > Quantity::kMaxUnits) {
        return InvalidSpec(path + ": with the forks added, the bundle of " + Quote(t.spec->name) +
                           "/" + std::to_string(w) + " is above the maximum 1e14");
      }
      if (!cpu.IsZero()) head.Set(kCpu, cpu);
      if (!bytes.IsZero()) head.Set(kMemory, bytes);
    }
  }
  return roles;
}

std::string GroupName(const RolePlan& rp, size_t worker) {
  if (rp.mode == PlacementMode::kShared) return rp.spec->name;
  return rp.spec->name + "/" + std::to_string(worker);
}

Status NotPlaced(const PlacementEngine& engine, const RolePlan& rp, const std::string& group,
                 GroupState state) {
  std::optional<Explanation> why = engine.Explain(group);
  std::string msg =
      RoleLabel(rp) + ": group " + Quote(group) + " is not placed (" + GroupStateName(state) + ")";
  if (why) {
    msg += ": " + why->reason + "\n" + roles::ExplanationText(*why);
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
  }
  return Status(state == GroupState::kPending ? ErrorCode::kUnavailable : ErrorCode::kInfeasible,
                msg);
}

// Creates the groups of one role and records where each bundle landed.
Status Place(PlacementEngine& engine, RolePlan& rp) {
  std::vector<GroupSpec> groups;
  if (rp.mode == PlacementMode::kShared) {
    GroupSpec g{GroupName(rp, 0), Strategy::kPack, {}};
    for (const auto& b : rp.requests) g.bundles.push_back(b[0]);
    groups.push_back(std::move(g));
  } else {
    const Strategy s =
        rp.mode == PlacementMode::kDeferred ? Strategy::kStrictSpread : Strategy::kPack;
    for (size_t w = 0; w < rp.requests.size(); ++w) {
      groups.push_back({GroupName(rp, w), s, rp.requests[w]});
    }
  }
  rp.slots.assign(rp.requests.size(), {});
  for (size_t k = 0; k < groups.size(); ++k) {
    const GroupSpec& g = groups[k];
    Result<GroupState> st = engine.CreateGroup(g);
    if (!st) {
      return Status(st.error().code(), RoleLabel(rp) + ": " + st.error().message());
    }
    if (*st != GroupState::kCreated) return NotPlaced(engine, rp, g.name, *st);
    std::optional<GroupView> view = engine.Group(g.name);
    for (const BundlePlacement& p : view->placed) {
      Slot slot{g.name, p.index, p.node, p.gpus};
      if (rp.mode == PlacementMode::kShared) {
        rp.slots[p.index] = {slot};
      } else {
        rp.slots[k].push_back(slot);
      }
    }
    if (rp.mode != PlacementMode::kShared) {
      std::sort(rp.slots[k].begin(), rp.slots[k].end(),
                [](const Slot& a, const Slot& b) { return a.bundle < b.bundle; });
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Plan> MakePlan(const ExperimentSpec& experiment, const std::vector<NodeSpec>& nodes,
                      const PortSource& ports) {
  BERTH_RETURN_IF_ERROR(ValidateExperiment(experiment));
  Plan plan;
  PlacementEngine engine;
  std::map<std::string, std::string> addresses;
  int64_t gpus_per_node = 0;
  for (const NodeSpec& n : nodes) {
    Status s = engine.AddNode(n);
    if (!s.ok()) return Status(s.code(), "cluster: " + s.message());
    auto label = n.labels.find("address");
    addresses[n.name] = label != n.labels.end() ? label->second : n.name;
    gpus_per_node = std::max(gpus_per_node, n.resources.Get(kGpu).WholePart());
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<RolePlan> roles,
                         Layout(experiment, gpus_per_node, plan.warnings));

  std::map<std::string, std::string> group_role;
  for (RolePlan& rp : roles) {
    if (rp.target >= 0) continue;
    BERTH_RETURN_IF_ERROR(Place(engine, rp));
    for (const auto& w : rp.slots) group_role[w[0].group] = rp.spec->name;
  }
  for (GroupView& g : engine.Groups()) {
    plan.groups.push_back({group_role[g.name], std::move(g)});
  }

  // Launch order: the roles that own bundles, then the forks (so that a
  // target always starts before what is colocated on it).
  roles::EnvContext ctx{ports, addresses};
  for (int pass = 0; pass < 2; ++pass) {
    for (const RolePlan& rp : roles) {
      if ((rp.target >= 0) != (pass == 1)) continue;
      if (rp.target >= 0 && !rp.spec->colocation->fork) {
        plan.aliases.emplace_back(rp.spec->name, rp.spec->colocation->target);
        continue;
      }
      roles::RoleWorkers in;
      in.role = rp.spec;
      in.role_index = rp.index;
      in.tasks = &rp.tasks;
      if (rp.target >= 0) {
        const RolePlan& t = roles[rp.target];
        for (size_t w = 0; w < t.slots.size(); ++w) in.slots.push_back({t.slots[w][0]});
        in.fork_of = t.spec->name;
        in.training = t.mode == PlacementMode::kShared;
      } else {
        in.slots = rp.slots;
        in.training = rp.mode == PlacementMode::kShared;
        in.deferred = rp.mode == PlacementMode::kDeferred;
      }
      BERTH_ASSIGN_OR_RETURN(std::vector<WorkerPlan> ws, roles::BuildWorkers(in, ctx));
      for (WorkerPlan& w : ws) plan.workers.push_back(std::move(w));
    }
  }
  return plan;
}

}  // namespace berth
