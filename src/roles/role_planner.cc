// RolePlanner: roles -> placement groups on the engine -> workers, one role at
// a time. The shapes of the groups follow AReaL #966 (see
// include/berth/plan.h); what each worker is told (env, argv) is built in
// worker_env.cc.

#include "roles/role_planner.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "roles/fork_share.h"
#include "roles/tasks.h"
#include "roles/worker_env.h"

namespace berth::roles {

using common::Quote;
namespace {

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
  BERTH_ASSIGN_OR_RETURN(Quantity mem, MemBytes(t.mem_gib, path + ".mem"));
  if (gpus_per_node <= 0 || t.gpu <= Quantity::Whole(gpus_per_node)) {
    // Fits one node (or no node has GPUs: the engine explains that).
    return std::vector<ResourceSet>{Request(t.cpu, t.gpu, mem)};
  }
  int64_t cpu_scale;
  int64_t mem_scale;
  const int64_t cpu = SplitUnits(t.cpu, &cpu_scale);
  const int64_t mem_gib = SplitUnits(t.mem_gib, &mem_scale);
  Result<std::vector<SplitBundle>> split =
      SplitInstance(gpus_per_node, cpu, t.gpu.WholePart(), mem_gib);
  if (!split) return split.error().WithPrefix(path + ": ");
  std::vector<ResourceSet> out;
  for (const SplitBundle& b : *split) {
    BERTH_ASSIGN_OR_RETURN(Quantity bytes,
                           MemBytes(Quantity::Units(b.mem * mem_scale), path + ".mem"));
    out.push_back(Request(Quantity::Units(b.cpu * cpu_scale), Quantity::Whole(b.gpu), bytes));
  }
  return out;
}

}  // namespace

// One added role.
struct RoleEntry {
  RoleSpec spec;
  size_t index = 0;                             // its role_index, for error paths
  std::vector<SchedulingSpec> tasks;            // one per worker, scaled; empty for an alias
  PlacementMode mode = PlacementMode::kShared;  // after the rollout and auto-deferral rules
  // Non-colocated roles: per worker (instance), its bundles' requests, then
  // where they landed.
  std::vector<std::vector<ResourceSet>> requests;
  std::vector<std::vector<Slot>> slots;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<ForkReserve>> reserved;  // fork role -> per worker

  std::string Label() const { return RolePath(index) + " (" + spec.name + ")"; }
};

struct RolePlanner::State {
  PlacementEngine engine;
  std::map<std::string, std::string> addresses;
  int64_t gpus_per_node = 0;
  std::map<std::string, RoleEntry> roles;
};

namespace {

// No selector on any bundle: none at all (the engine's plain case).
void DropEmptySelectors(GroupSpec& g) {
  if (std::all_of(g.bundle_label_selector.begin(), g.bundle_label_selector.end(),
                  [](const auto& sel) { return sel.empty(); })) {
    g.bundle_label_selector.clear();
  }
}

std::string GroupName(const RoleEntry& rp, size_t worker) {
  if (rp.mode == PlacementMode::kShared) return rp.spec.name;
  return rp.spec.name + "/" + std::to_string(worker);
}

// The error of a group the engine did not place: one line (which role,
// which group, its state and the engine's reason), with the engine's
// Explanation attached as data (ErrorText renders its per-node lines).
Status NotPlaced(const PlacementEngine& engine, const RoleEntry& rp, const std::string& group,
                 GroupState state) {
  std::optional<Explanation> why = engine.Explain(group);
  std::string msg =
      rp.Label() + ": group " + Quote(group) + " is not placed (" + GroupStateName(state) + ")";
  if (why) msg += ": " + why->reason;
  Status st(state == GroupState::kPending ? ErrorCode::kUnavailable : ErrorCode::kInfeasible,
            std::move(msg));
  if (!why) return st;
  return st.WithExplanation(std::make_shared<const Explanation>(std::move(*why)));
}

// Scaled tasks, the effective mode and the bundles of a role that owns its
// bundles, with the forks' cpu and mem added to each worker's head bundle.
Status Layout(RoleEntry& rp, int64_t gpus_per_node, const std::vector<ForkRole>& forks,
              std::vector<std::string>& warnings) {
  rp.mode = rp.spec.placement;
  if (rp.spec.instance && rp.mode == PlacementMode::kShared) {
    rp.mode = PlacementMode::kSeparate;
    warnings.push_back(rp.Label() +
                       ": placement shared is turned into separate: a role with an instance "
                       "runs one placement group per instance, as AReaL's RolloutController "
                       "does");
  }
  if (rp.mode == PlacementMode::kSeparate && gpus_per_node > 0) {
    Quantity most;
    for (const SchedulingSpec& t : rp.tasks) most = std::max(most, t.gpu);
    if (most > Quantity::Whole(gpus_per_node)) {
      rp.mode = PlacementMode::kDeferred;
      warnings.push_back(rp.Label() + ": an instance needs " + most.ToString() +
                         " GPUs but the largest node has " + std::to_string(gpus_per_node) +
                         "; placed as deferred: each instance is split into node-sized "
                         "bundles on distinct nodes (STRICT_SPREAD), one process per node");
    }
  }
  for (size_t w = 0; w < rp.tasks.size(); ++w) {
    const SchedulingSpec& t = rp.tasks[w];
    const std::string path = SpecPath(rp.index, rp.spec, w);
    if (rp.mode == PlacementMode::kDeferred) {
      BERTH_ASSIGN_OR_RETURN(std::vector<ResourceSet> b, DeferredBundles(t, gpus_per_node, path));
      rp.requests.push_back(std::move(b));
    } else {
      BERTH_ASSIGN_OR_RETURN(Quantity mem, MemBytes(t.mem_gib, path + ".mem"));
      rp.requests.push_back({Request(t.cpu, t.gpu, mem)});
    }
  }
  // Fork accounting: a placed bundle cannot grow, so the fork's cpu and mem
  // are added to its target's request before it is placed. Its GPU is the
  // target's devices, shared (ValidateExperiment keeps it <= the target's).
  for (const ForkRole& fork : forks) {
    BERTH_ASSIGN_OR_RETURN(std::vector<ForkReserve> per_worker,
                           ForkReservations(fork.spec, fork.index, rp.requests.size()));
    std::vector<ForkReserve>& reserved = rp.reserved[fork.spec.name];
    for (size_t w = 0; w < per_worker.size(); ++w) {
      ResourceSet& head = rp.requests[w][0];  // a deferred instance's head bundle
      const Quantity cpu = head.Get(kCpu) + per_worker[w].cpu;
      const Quantity bytes = head.Get(kMemory) + per_worker[w].mem_bytes;
      if (cpu.units() > Quantity::kMaxUnits || bytes.units() > Quantity::kMaxUnits) {
        return InvalidSpec(SpecPath(fork.index, fork.spec, 0) +
                           ": with the forks added, the bundle of " + Quote(rp.spec.name) + "/" +
                           std::to_string(w) + " is above the maximum 1e14");
      }
      if (!cpu.IsZero()) head.Set(kCpu, cpu);
      if (!bytes.IsZero()) head.Set(kMemory, bytes);
      reserved.push_back(per_worker[w]);
    }
  }
  return Status::Ok();
}

// An instance's group: every bundle (one per node for a deferred instance)
// with the worker's node_selector.
GroupSpec InstanceGroup(const std::string& name, Strategy strategy,
                        const std::vector<ResourceSet>& bundles, const SchedulingSpec& task,
                        const std::optional<Topology>& topology) {
  GroupSpec g{name, strategy, bundles, {}, topology};
  g.bundle_label_selector.assign(bundles.size(), task.node_selector);
  DropEmptySelectors(g);
  return g;
}

// Creates the groups of one role and records where each bundle landed. On
// error the groups it created are left for the caller to remove
// (rp.groups names them).
Status Place(PlacementEngine& engine, RoleEntry& rp) {
  std::vector<GroupSpec> groups;
  if (rp.mode == PlacementMode::kShared) {
    GroupSpec g{GroupName(rp, 0), Strategy::kPack, {}, {}, rp.spec.topology};
    for (const auto& b : rp.requests) g.bundles.push_back(b[0]);
    for (size_t w = 0; w < rp.requests.size(); ++w) {
      g.bundle_label_selector.push_back(rp.tasks[w].node_selector);
    }
    groups.push_back(std::move(g));
  } else {
    const Strategy s =
        rp.mode == PlacementMode::kDeferred ? Strategy::kStrictSpread : Strategy::kPack;
    for (size_t w = 0; w < rp.requests.size(); ++w) {
      groups.push_back(
          InstanceGroup(GroupName(rp, w), s, rp.requests[w], rp.tasks[w], rp.spec.topology));
    }
  }
  for (GroupSpec& g : groups) DropEmptySelectors(g);
  rp.slots.assign(rp.requests.size(), {});
  for (size_t k = 0; k < groups.size(); ++k) {
    const GroupSpec& g = groups[k];
    Result<GroupState> st = engine.CreateGroup(g);
    if (!st) return st.error().WithPrefix(rp.Label() + ": ");
    rp.groups.push_back(g.name);
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

// Where each bundle of `rp` stands now (after a node was removed): a bundle
// that lost its node and found no other place keeps an empty node.
void Refresh(const PlacementEngine& engine, RoleEntry& rp) {
  for (size_t k = 0; k < rp.groups.size(); ++k) {
    std::optional<GroupView> view = engine.Group(rp.groups[k]);
    if (!view) continue;
    const bool shared = rp.mode == PlacementMode::kShared;
    auto slot_of = [&](size_t b) -> Slot& { return shared ? rp.slots[b][0] : rp.slots[k][b]; };
    for (size_t b = 0; b < view->bundles.size(); ++b) {
      slot_of(b).node.clear();
      slot_of(b).gpus.clear();
    }
    for (const BundlePlacement& p : view->placed) {
      Slot& slot = slot_of(static_cast<size_t>(p.index));
      slot.node = p.node;
      slot.gpus = p.gpus;
    }
  }
}

}  // namespace

RolePlanner::RolePlanner(std::unique_ptr<State> state) : s_(std::move(state)) {}
RolePlanner::RolePlanner(RolePlanner&&) noexcept = default;
RolePlanner& RolePlanner::operator=(RolePlanner&&) noexcept = default;
RolePlanner::~RolePlanner() = default;

Result<RolePlanner> RolePlanner::Create(const std::vector<NodeSpec>& nodes) {
  auto s = std::make_unique<State>();
  for (const NodeSpec& n : nodes) {
    Status st = s->engine.AddNode(n);
    if (!st.ok()) return st.WithPrefix("cluster: ");
    auto label = n.labels.find("address");
    s->addresses[n.name] = label != n.labels.end() ? label->second : n.name;
    s->gpus_per_node = std::max(s->gpus_per_node, n.resources.Get(kGpu).WholePart());
  }
  return RolePlanner(std::move(s));
}

bool RolePlanner::Has(const std::string& role) const { return s_->roles.contains(role); }
const PlacementEngine& RolePlanner::engine() const { return s_->engine; }

Result<PlacedRole> RolePlanner::Add(const RoleSpec& role, size_t role_index,
                                    const std::vector<ForkRole>& forks, const PortSource& ports) {
  if (Has(role.name))
    return InvalidSpec(RolePath(role_index) + ": role " + Quote(role.name) + " is already placed");
  RoleEntry rp;
  rp.spec = role;
  rp.index = role_index;
  BERTH_ASSIGN_OR_RETURN(rp.tasks, WorkerTasks(role, role_index));
  PlacedRole out;
  const RoleEntry* target = nullptr;
  if (role.colocation) {
    auto it = s_->roles.find(role.colocation->target);
    if (it == s_->roles.end()) {
      return NotFound(RolePath(role_index) + ".scheduling_strategy.target: role " +
                      Quote(role.colocation->target) + " has no workers; create it first");
    }
    target = &it->second;
    if (!role.colocation->fork) {
      out.alias_of = target->spec.name;
      s_->roles.emplace(role.name, std::move(rp));
      return out;
    }
    auto reserved = target->reserved.find(rp.spec.name);
    BERTH_RETURN_IF_ERROR(CheckForkReservation(
        rp.spec, rp.index, rp.tasks, target->spec.name,
        reserved != target->reserved.end() ? &reserved->second : nullptr, target->slots.size()));
  } else {
    BERTH_RETURN_IF_ERROR(Layout(rp, s_->gpus_per_node, forks, out.warnings));
    Status placed = Place(s_->engine, rp);
    if (!placed.ok()) {
      for (const std::string& g : rp.groups) (void)s_->engine.RemoveGroup(g);
      s_->engine.PurgeRemoved();
      return placed;
    }
  }

  Result<std::vector<WorkerPlan>> workers = BuildRole(rp, target, ports);
  if (!workers) {
    for (const std::string& g : rp.groups) (void)s_->engine.RemoveGroup(g);
    s_->engine.PurgeRemoved();
    return workers.error();
  }
  out.workers = std::move(workers).value();
  out.groups = rp.groups;
  s_->roles.emplace(role.name, std::move(rp));
  return out;
}

Result<std::vector<WorkerPlan>> RolePlanner::BuildRole(const RoleEntry& rp, const RoleEntry* target,
                                                       const PortSource& ports) const {
  EnvContext ctx{ports, s_->addresses};
  RoleWorkers in;
  in.role = &rp.spec;
  in.role_index = rp.index;
  in.tasks = &rp.tasks;
  const size_t k = target != nullptr ? ForkGroupSize(rp.tasks.size(), target->slots.size()) : 1;
  if (target != nullptr && k > 1) {
    // Grouped (N:M): instance j over the union of its block's devices.
    BERTH_ASSIGN_OR_RETURN(in.fork_targets, GroupedBlocks(target->slots, target->spec.name,
                                                          rp.tasks.size(), k, rp.Label()));
    for (const std::vector<int>& block : in.fork_targets) {
      in.slots.push_back({UnionSlot(target->slots, block)});
    }
    in.fork_of = target->spec.name;
    in.training = target->mode == PlacementMode::kShared;
  } else if (target != nullptr) {
    for (const auto& slot : target->slots) in.slots.push_back({slot[0]});
    in.fork_of = target->spec.name;
    in.training = target->mode == PlacementMode::kShared;
  } else {
    in.slots = rp.slots;
    in.training = rp.mode == PlacementMode::kShared;
    in.deferred = rp.mode == PlacementMode::kDeferred;
  }
  return BuildWorkers(in, ctx);
}

Result<std::vector<WorkerPlan>> RolePlanner::Rebuild(const std::string& role,
                                                     const std::vector<int>& indices,
                                                     const PortSource& ports) const {
  auto it = s_->roles.find(role);
  if (it == s_->roles.end()) return NotFound("role " + Quote(role) + " is not placed");
  const RoleEntry& rp = it->second;
  const RoleEntry* target = nullptr;
  if (rp.spec.colocation) {
    if (!rp.spec.colocation->fork) {
      return InvalidSpec("role " + Quote(role) + " is an alias: it has no workers to build");
    }
    target = &s_->roles.at(rp.spec.colocation->target);
  }
  // A worker whose bundle lost its node and found no other place.
  const RoleEntry& owner = target != nullptr ? *target : rp;
  std::vector<int> wanted = indices;
  if (wanted.empty()) {
    for (size_t i = 0; i < owner.slots.size(); ++i) wanted.push_back(static_cast<int>(i));
  }
  for (int i : wanted) {
    if (i < 0 || static_cast<size_t>(i) >= owner.slots.size()) continue;
    for (const Slot& slot : owner.slots[static_cast<size_t>(i)]) {
      if (!slot.node.empty()) continue;
      std::optional<GroupView> view = s_->engine.Group(slot.group);
      return NotPlaced(s_->engine, owner, slot.group,
                       view ? view->state : GroupState::kRescheduling);
    }
  }
  // Every worker is built again (ports are handed out in worker order), and
  // only those asked for are kept: the others keep running on their ports
  // (one still without a node is built with no address, and dropped).
  BERTH_ASSIGN_OR_RETURN(std::vector<WorkerPlan> all, BuildRole(rp, target, ports));
  std::vector<WorkerPlan> out;
  for (WorkerPlan& w : all) {
    if (indices.empty() || std::find(indices.begin(), indices.end(), w.index) != indices.end()) {
      out.push_back(std::move(w));
    }
  }
  return out;
}

Status RolePlanner::CheckResizable(const std::string& role) const {
  auto it = s_->roles.find(role);
  if (it == s_->roles.end()) return NotFound("role " + Quote(role) + " is not placed");
  const RoleEntry& rp = it->second;
  if (rp.spec.colocation) {
    return InvalidSpec("it is colocated on " + Quote(rp.spec.colocation->target) +
                       " and follows its instances; scale " + Quote(rp.spec.colocation->target));
  }
  if (rp.mode == PlacementMode::kShared) {
    return InvalidSpec(
        "it is placed shared, one gang whose every rank knows the world "
        "size; delete it and create it again with the new replicas");
  }
  if (rp.spec.tasks.size() > 1) {
    return InvalidSpec(
        "it has one scheduling_spec per worker; give it a single spec to "
        "scale it");
  }
  return Status::Ok();
}

Result<std::vector<WorkerPlan>> RolePlanner::Resize(const std::string& role, int replicas,
                                                    const PortSource& ports) {
  BERTH_RETURN_IF_ERROR(CheckResizable(role));
  RoleEntry& rp = s_->roles.find(role)->second;
  if (replicas < 1) {
    return InvalidSpec("replicas must be at least 1; delete the role to stop all of it");
  }
  RoleSpec spec = rp.spec;
  spec.replicas = replicas;
  BERTH_ASSIGN_OR_RETURN(std::vector<SchedulingSpec> tasks, WorkerTasks(spec, rp.index));
  std::vector<std::pair<RoleEntry*, std::vector<SchedulingSpec>>> forks;
  for (auto& [name, e] : s_->roles) {
    if (!e.spec.colocation || e.spec.colocation->target != role || !e.spec.colocation->fork) {
      continue;
    }
    RoleSpec fs = e.spec;
    fs.replicas = replicas;
    BERTH_ASSIGN_OR_RETURN(std::vector<SchedulingSpec> ft, WorkerTasks(fs, e.index));
    forks.emplace_back(&e, std::move(ft));
  }
  const size_t have = rp.tasks.size();
  const auto want = static_cast<size_t>(replicas);
  auto follow = [&] {
    rp.tasks = tasks;
    rp.spec.replicas = replicas;
    for (auto& [fork, ft] : forks) {
      fork->spec.replicas = replicas;
      fork->tasks = ft;
    }
  };
  if (want <= have) {
    for (size_t w = want; w < have; ++w)
      BERTH_RETURN_IF_ERROR(s_->engine.RemoveGroup(rp.groups[w]));
    s_->engine.PurgeRemoved();
    rp.requests.resize(want);
    rp.slots.resize(want);
    rp.groups.resize(want);
    for (auto& [name, reserved] : rp.reserved) reserved.resize(std::min(reserved.size(), want));
    follow();
    return std::vector<WorkerPlan>{};
  }
  // The new instances' bundles, with the forks' room as their first
  // instance has it.
  std::vector<std::vector<ResourceSet>> requests;
  for (size_t w = have; w < want; ++w) {
    const SchedulingSpec& t = tasks[w];
    const std::string path = SpecPath(rp.index, spec, w);
    std::vector<ResourceSet> b;
    if (rp.mode == PlacementMode::kDeferred) {
      BERTH_ASSIGN_OR_RETURN(b, DeferredBundles(t, s_->gpus_per_node, path));
    } else {
      BERTH_ASSIGN_OR_RETURN(Quantity mem, MemBytes(t.mem_gib, path + ".mem"));
      b.push_back(Request(t.cpu, t.gpu, mem));
    }
    for (const auto& [name, reserved] : rp.reserved) {
      if (reserved.empty()) continue;
      const Quantity cpu = b[0].Get(kCpu) + reserved.front().cpu;
      const Quantity bytes = b[0].Get(kMemory) + reserved.front().mem_bytes;
      if (!cpu.IsZero()) b[0].Set(kCpu, cpu);
      if (!bytes.IsZero()) b[0].Set(kMemory, bytes);
    }
    requests.push_back(std::move(b));
  }
  const Strategy strategy =
      rp.mode == PlacementMode::kDeferred ? Strategy::kStrictSpread : Strategy::kPack;
  std::vector<std::string> made;
  std::vector<std::vector<Slot>> slots;
  auto undo = [&] {
    for (const std::string& g : made) (void)s_->engine.RemoveGroup(g);
    s_->engine.PurgeRemoved();
  };
  for (size_t w = have; w < want; ++w) {
    const std::string name = GroupName(rp, w);
    Result<GroupState> st = s_->engine.CreateGroup(
        InstanceGroup(name, strategy, requests[w - have], tasks[w], rp.spec.topology));
    if (!st) {
      undo();
      return st.error();
    }
    made.push_back(name);
    if (*st != GroupState::kCreated) {
      Status why = NotPlaced(s_->engine, rp, name, *st);
      undo();
      return why;
    }
    std::vector<Slot> instance;
    const std::optional<GroupView> view = s_->engine.Group(name);  // outlives the loop
    for (const BundlePlacement& p : view->placed) {
      instance.push_back({name, p.index, p.node, p.gpus});
    }
    std::sort(instance.begin(), instance.end(),
              [](const Slot& a, const Slot& b) { return a.bundle < b.bundle; });
    slots.push_back(std::move(instance));
  }
  for (size_t w = have; w < want; ++w) {
    rp.requests.push_back(std::move(requests[w - have]));
    rp.slots.push_back(std::move(slots[w - have]));
    rp.groups.push_back(made[w - have]);
  }
  for (auto& [name, reserved] : rp.reserved) {
    if (!reserved.empty()) reserved.resize(want, reserved.front());
  }
  follow();
  std::vector<int> indices;
  for (size_t w = have; w < want; ++w) indices.push_back(static_cast<int>(w));
  BERTH_ASSIGN_OR_RETURN(std::vector<WorkerPlan> out, Rebuild(role, indices, ports));
  for (auto& [fork, ft] : forks) {
    BERTH_ASSIGN_OR_RETURN(std::vector<WorkerPlan> more, Rebuild(fork->spec.name, indices, ports));
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

Status RolePlanner::RemoveNode(const std::string& node) {
  BERTH_RETURN_IF_ERROR(s_->engine.RemoveNode(node));
  for (auto& [name, rp] : s_->roles) Refresh(s_->engine, rp);
  return Status::Ok();
}

std::optional<PlacementMode> RolePlanner::ModeOf(const std::string& role) const {
  auto it = s_->roles.find(role);
  if (it == s_->roles.end()) return std::nullopt;
  if (it->second.spec.colocation) return ModeOf(it->second.spec.colocation->target);
  return it->second.mode;
}

Status RolePlanner::Remove(const std::string& role) {
  auto it = s_->roles.find(role);
  if (it == s_->roles.end()) return NotFound("role " + Quote(role) + " is not placed");
  for (const std::string& g : it->second.groups) {
    BERTH_RETURN_IF_ERROR(s_->engine.RemoveGroup(g));
  }
  s_->engine.PurgeRemoved();
  s_->roles.erase(it);
  return Status::Ok();
}

}  // namespace berth::roles
