// Scheduler::ScaleWorkers (include/berth/scheduler.h): a separate or
// deferred role grown or shrunk by instances while the rest runs.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "berth/scheduler.h"
#include "common/text.h"
#include "roles/limits.h"
#include "scheduler/scheduler_impl.h"

namespace berth {

using common::Quote;

Result<std::vector<std::string>> Scheduler::ScaleWorkers(
    const std::string& role, int replicas, std::optional<std::chrono::milliseconds> timeout) {
  Impl& s = *impl_;
  s.failure.reset();
  const std::string call = "scale_workers(" + Quote(role) + ", " + std::to_string(replicas) + "): ";
  auto r = std::find_if(s.roles.begin(), s.roles.end(),
                        [&](const Impl::Role& x) { return x.spec.name == role; });
  if (r == s.roles.end()) {
    std::string names;
    for (const std::string& n : s.RoleNames()) names += (names.empty() ? "" : ", ") + n;
    return NotFound(call + "no role " + Quote(role) +
                    " has workers (roles: " + (names.empty() ? "none" : names) + ")");
  }
  if (!r->alias_of.empty()) {
    return InvalidSpec(call + "it is an alias of " + Quote(r->alias_of) + "; scale " +
                       Quote(r->alias_of));
  }
  if (replicas > roles::kMaxReplicas) {
    return InvalidSpec(call + "replicas must be at most " + std::to_string(roles::kMaxReplicas));
  }
  const std::optional<int>& min = r->spec.on_failure.min_replicas;
  if (min && replicas < *min) {
    return InvalidSpec(call + "below the role's min_replicas " + std::to_string(*min) +
                       " (its on_failure would end the run); scale to at least " +
                       std::to_string(*min));
  }
  const int have = r->spec.replicas;
  if (replicas == have) return s.IdsOf(role);
  // The roles that follow its instances: forks on it.
  std::vector<std::string> forks;
  for (const Impl::Role& x : s.roles) {
    if (x.spec.colocation && x.spec.colocation->fork && x.spec.colocation->target == role) {
      forks.push_back(x.spec.name);
    }
  }
  auto follow = [&](int n) {
    for (Impl::Role& x : s.roles) {
      if (x.spec.name == role || std::find(forks.begin(), forks.end(), x.spec.name) != forks.end())
        x.spec.replicas = n;
    }
  };
  if (replicas < have) {
    if (replicas < 1) {
      return InvalidSpec(call + "replicas must be at least 1; delete the role to stop all of it");
    }
    std::vector<std::string> ids;
    for (const Impl::Slot& slot : s.slots) {
      const WorkerPlan& p = slot.worker.plan;
      const bool ours =
          p.role == role || std::find(forks.begin(), forks.end(), p.role) != forks.end();
      if (ours && p.index >= replicas) ids.push_back(p.id);
    }
    // Whether the planner can scale the role at all, before anything stops.
    BERTH_RETURN_IF_ERROR(s.planner.CheckResizable(role).WithPrefix(call));
    BERTH_RETURN_IF_ERROR(s.StopUnit(ids, /*forget=*/true).WithPrefix(call));
    Result<std::vector<WorkerPlan>> gone = s.planner.Resize(role, replicas, s.opt.ports);
    s.RefreshCommGroups(nullptr);
    if (!gone) return gone.error().WithPrefix(call);
    follow(replicas);
    return s.IdsOf(role);
  }
  Result<std::vector<WorkerPlan>> plans = s.planner.Resize(role, replicas, s.opt.ports);
  if (!plans) return plans.error().WithPrefix(call);
  follow(replicas);
  // As before a restart, with nothing stopped: the Slurm backend makes sure
  // that a job holds the new instances' nodes.
  if (s.opt.before_restart) {
    if (Status held = s.opt.before_restart({}, *plans); !held.ok()) {
      (void)s.planner.Resize(role, have, s.opt.ports);
      follow(have);
      return held.WithPrefix(call);
    }
  }
  const std::optional<Clock::TimePoint> deadline =
      timeout ? std::optional<Clock::TimePoint>(s.clock.Now() + *timeout) : std::nullopt;
  // The role's new instances, then each fork's workers on them.
  std::vector<std::string> order = {role};
  order.insert(order.end(), forks.begin(), forks.end());
  std::vector<std::string> started;
  Status st;
  for (const std::string& name : order) {
    std::vector<WorkerPlan> part;
    std::set<std::string> ids;
    for (const WorkerPlan& p : *plans) {
      if (p.role != name) continue;
      part.push_back(p);
      ids.insert(p.id);
    }
    if (part.empty()) continue;
    st = s.Launch(part);
    if (!st.ok()) break;
    started.insert(started.end(), ids.begin(), ids.end());
    st = s.AwaitReady(name, deadline, nullptr, &ids);
    if (!st.ok()) break;
  }
  if (st.ok()) return s.IdsOf(role);
  // Nothing new stays: processes first, then the groups.
  (void)s.StopUnit(started, /*forget=*/true);
  (void)s.planner.Resize(role, have, s.opt.ports);
  follow(have);
  s.RefreshCommGroups(nullptr);
  return st.WithPrefix(call);
}

}  // namespace berth
