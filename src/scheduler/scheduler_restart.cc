// The Scheduler's units (include/berth/scheduler.h): which workers restart or
// stop together, and restarting or dropping one while the rest runs on.

#include <algorithm>
#include <set>

#include "berth/scheduler.h"
#include "common/text.h"
#include "scheduler/scheduler_impl.h"

namespace berth {
namespace {

bool Running(const Worker& w) {
  return w.phase == WorkerPhase::kStarting || w.phase == WorkerPhase::kReady;
}

}  // namespace

const RoleSpec* Scheduler::FindRoleSpec(const std::string& role) const {
  const Impl::Role* r = impl_->FindRole(role);
  return r != nullptr ? &r->spec : nullptr;
}

std::vector<std::string> Scheduler::UnitOf(const std::string& worker) const {
  const Impl& s = *impl_;
  const Worker* w = FindWorker(worker);
  if (w == nullptr) return {};
  if (!w->plan.fork_of.empty()) return UnitOf(w->plan.fork_of);
  const bool gang = s.planner.ModeOf(w->plan.role) == PlacementMode::kShared;
  std::vector<std::string> unit;
  for (const Impl::Slot& slot : s.slots) {
    const WorkerPlan& p = slot.worker.plan;
    if (p.role == w->plan.role && (gang || p.index == w->plan.index)) unit.push_back(p.id);
  }
  std::vector<std::string> forks;
  for (const Impl::Slot& slot : s.slots) {
    const std::string& of = slot.worker.plan.fork_of;
    if (!of.empty() && std::find(unit.begin(), unit.end(), of) != unit.end()) {
      forks.push_back(slot.worker.plan.id);
    }
  }
  unit.insert(unit.end(), forks.begin(), forks.end());
  return unit;
}

// Its forks, then its workers, rank 0 (a gang) or the head (an instance)
// last. Only running ones are signalled.
Status Scheduler::Impl::StopUnit(const std::vector<std::string>& unit, bool forget) {
  std::vector<std::string> forks;
  std::vector<std::string> others;
  std::vector<std::string> last;
  std::vector<std::string> ended;  // nothing to signal, only to forget
  const std::set<std::string> ids(unit.begin(), unit.end());
  for (const Slot& slot : slots) {
    const WorkerPlan& p = slot.worker.plan;
    if (!ids.contains(p.id)) continue;
    const bool gang = planner.ModeOf(p.role) == PlacementMode::kShared;
    const bool first = gang ? p.index == 0 : p.id == p.role + "/" + std::to_string(p.index);
    if (!Running(slot.worker)) {
      ended.push_back(slot.launch_id);
    } else if (!p.fork_of.empty()) {
      forks.push_back(slot.launch_id);
    } else {
      (first ? last : others).push_back(slot.launch_id);
    }
  }
  Status st = StopStages({forks, others, last}, forget);
  // The ended ones were reported already: only their records go.
  if (forget) {
    const std::set<std::string> gone(ended.begin(), ended.end());
    slots.erase(std::remove_if(slots.begin(), slots.end(),
                               [&](const Slot& x) { return gone.contains(x.launch_id); }),
                slots.end());
  }
  return st;
}

Result<std::vector<std::string>> Scheduler::RestartUnit(const std::string& worker) {
  Impl& s = *impl_;
  s.failure.reset();
  const std::string call = "restart of " + worker + "'s unit: ";
  const std::vector<std::string> unit = UnitOf(worker);
  if (unit.empty()) return NotFound(call + "no worker " + common::Quote(worker));
  // Per role, the indices to build again, the unit's own role first.
  std::vector<std::pair<std::string, std::vector<int>>> roles;
  for (const std::string& id : unit) {
    const WorkerPlan& p = FindWorker(id)->plan;
    auto it =
        std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.first == p.role; });
    if (it == roles.end()) {
      roles.push_back({p.role, {}});
      it = roles.end() - 1;
    }
    if (std::find(it->second.begin(), it->second.end(), p.index) == it->second.end()) {
      it->second.push_back(p.index);
    }
  }
  std::vector<Worker> stopped;
  stopped.reserve(unit.size());
  for (const std::string& id : unit) stopped.push_back(*FindWorker(id));
  // Stopped but remembered until each role's new workers start: a restart
  // that fails part way leaves the rest of the unit on record, stopped, for
  // the next attempt to find.
  BERTH_RETURN_IF_ERROR(s.StopUnit(unit, /*forget=*/false).WithPrefix(call));
  for (Worker& w : stopped) {
    if (const Worker* now = FindWorker(w.plan.id)) w = *now;  // as it ended
  }
  std::vector<std::vector<WorkerPlan>> next;  // per role, in `roles` order
  std::vector<WorkerPlan> all;
  for (const auto& [role, indices] : roles) {
    // A gang is built whole: its processes may follow its nodes (per-node
    // torchrun launchers), whose count a lost node can change.
    const bool gang = s.planner.ModeOf(role) == PlacementMode::kShared;
    Result<std::vector<WorkerPlan>> plans =
        s.planner.Rebuild(role, gang ? std::vector<int>{} : indices, s.opt.ports);
    if (!plans) return plans.error().WithPrefix(call);
    // torchrun's count of restarts, for a script that reads it (the plan
    // knows none): how many times the worker was started before.
    for (WorkerPlan& p : *plans) {
      for (auto& [name, value] : p.env) {
        if (name == "TORCHELASTIC_RESTART_COUNT") value = std::to_string(s.launches[p.id]);
      }
    }
    all.insert(all.end(), plans->begin(), plans->end());
    next.push_back(std::move(plans).value());
  }
  if (s.opt.before_restart)
    BERTH_RETURN_IF_ERROR(s.opt.before_restart(stopped, all).WithPrefix(call));
  const std::set<std::string> old(unit.begin(), unit.end());
  for (const std::vector<WorkerPlan>& plans : next) {
    if (plans.empty()) continue;
    std::set<std::string> ids;
    for (const WorkerPlan& p : plans) ids.insert(p.id);
    // The stopped records of this role go with the new ones' arrival (a
    // gang that now has fewer processes leaves none behind).
    const std::string& role = plans.front().role;
    s.slots.erase(std::remove_if(s.slots.begin(), s.slots.end(),
                                 [&](const Impl::Slot& x) {
                                   const std::string& id = x.worker.plan.id;
                                   return ids.contains(id) ||
                                          (old.contains(id) && x.worker.plan.role == role);
                                 }),
                  s.slots.end());
    Status st = s.Launch(plans);
    if (st.ok()) st = s.AwaitReady(plans.front().role, std::nullopt, nullptr, &ids);
    if (!st.ok()) {
      (void)s.StopUnit({ids.begin(), ids.end()}, /*forget=*/false);
      return st.WithPrefix(call);
    }
  }
  return unit;
}

Result<std::vector<std::string>> Scheduler::LoseNode(const std::string& node) {
  Impl& s = *impl_;
  BERTH_RETURN_IF_ERROR(s.planner.RemoveNode(node));
  std::vector<std::string> on_it;
  for (const Impl::Slot& slot : s.slots) {
    const Worker& w = slot.worker;
    if (w.plan.node == node && (Running(w) || w.phase == WorkerPhase::kFailed)) {
      on_it.push_back(w.plan.id);
    }
  }
  return on_it;
}

Status Scheduler::DropUnit(const std::string& worker) {
  const std::vector<std::string> unit = UnitOf(worker);
  if (unit.empty())
    return NotFound("drop of " + worker + "'s unit: no worker " + common::Quote(worker));
  Status st = impl_->StopUnit(unit, /*forget=*/true);
  impl_->RefreshCommGroups(nullptr);
  return st;
}

}  // namespace berth
