// The Scheduler's communication groups (SchedulerOptions::comm_groups): who
// is a member now, and a new version whenever that changes.

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "berth/scheduler.h"
#include "roles/comm_groups.h"
#include "scheduler/scheduler_impl.h"

namespace berth {

void Scheduler::Impl::RefreshCommGroups(std::vector<WorkerPlan>* launching) {
  if (opt.comm_groups.empty()) return;
  // Every worker that counts: those on record (a failed one waiting for its
  // restart included), the ones about to start in their place, and the
  // planned ones of roles not created yet.
  std::vector<WorkerPlan> all;
  std::map<std::string, int> starts;  // id -> launches, counting `launching`
  for (const Slot& s : slots) {
    if (s.worker.phase == WorkerPhase::kStopped) continue;
    all.push_back(s.worker.plan);
    starts[s.worker.plan.id] = launches[s.worker.plan.id];
  }
  if (launching != nullptr) {
    for (const WorkerPlan& p : *launching) {
      std::erase_if(all, [&](const WorkerPlan& w) { return w.id == p.id; });
      all.push_back(p);
      starts[p.id] = launches[p.id] + 1;
    }
  }
  for (const WorkerPlan& p : opt.planned_workers) {
    if (!created.contains(p.role)) all.push_back(p);
  }
  // Index order within a role (a restart appends its workers at the end).
  std::stable_sort(all.begin(), all.end(), [](const WorkerPlan& a, const WorkerPlan& b) {
    return a.role != b.role ? false : a.index < b.index;
  });
  for (const CommGroupSpec& spec : opt.comm_groups) {
    const std::vector<const WorkerPlan*> members = roles::CommGroupMembers(spec, all);
    std::vector<std::pair<std::string, int>> key;
    key.reserve(members.size());
    // A member's relaunches count (a restart is a new process to meet); its
    // first launch does not (a planned member coming up is no change).
    for (const WorkerPlan* w : members) key.emplace_back(w->id, std::max(starts[w->id] - 1, 0));
    auto it = comm_groups.find(spec.name);
    if (it == comm_groups.end()) {
      // The plan's version 1 when the members are the planned ones.
      GroupState first;
      for (const CommGroup& g : opt.planned_comm_groups) {
        if (g.name == spec.name) first.group = g;
      }
      first.group.name = spec.name;
      std::vector<std::string> ids;
      ids.reserve(members.size());
      for (const WorkerPlan* w : members) ids.push_back(w->id);
      const bool as_planned = first.group.members == ids && !ids.empty();
      first.group.version = as_planned ? 1 : 0;
      if (as_planned) {
        // The plan counted ports without looking; the run's are free ones.
        Result<int> port = opt.ports(members.front()->node);
        first.group.master_port = port ? *port : -1;
      }
      first.key = as_planned ? key : std::vector<std::pair<std::string, int>>{};
      it = comm_groups.emplace(spec.name, std::move(first)).first;
      if (as_planned && opt.on_comm_group) opt.on_comm_group(it->second.group);
    }
    GroupState& state = it->second;
    if (state.key != key) {
      CommGroup& g = state.group;
      ++g.version;
      g.members.clear();
      for (const WorkerPlan* w : members) g.members.push_back(w->id);
      g.master_addr.clear();
      g.master_port = -1;
      if (!members.empty()) {
        g.master_addr = members.front()->address;
        // No port to be had leaves the group without a rendezvous; members
        // see master_port -1 rather than a run that stops.
        Result<int> port = opt.ports(members.front()->node);
        if (port) g.master_port = *port;
      }
      state.key = std::move(key);
      if (opt.on_comm_group) opt.on_comm_group(g);
    }
    if (launching != nullptr) roles::SetCommGroupEnv(state.group, *launching);
  }
}

std::vector<CommGroup> Scheduler::CommGroups() const {
  std::vector<CommGroup> out;
  for (const CommGroupSpec& spec : impl_->opt.comm_groups) {
    auto it = impl_->comm_groups.find(spec.name);
    if (it != impl_->comm_groups.end()) out.push_back(it->second.group);
  }
  return out;
}

}  // namespace berth
