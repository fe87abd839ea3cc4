#pragma once
// The Scheduler's state, shared by scheduler.cc (the API: roles, placement,
// rollback) and scheduler_workers.cc (what happens to processes: launch,
// readiness, exits, stop).
//
// Launcher ids: a worker keeps its id ("actor/0") in the plan and the API,
// but the launcher never reuses an id, so a worker started again (a port
// conflict, a role created anew after delete_workers) runs as "actor/0@2".

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "berth/clock.h"
#include "berth/process.h"
#include "berth/scheduler.h"
#include "roles/role_planner.h"

namespace berth {

struct Scheduler::Impl {
  struct Slot {
    Worker worker;
    std::string launch_id;  // the launcher's id of this launch
    Clock::TimePoint started;
    bool was_ready = false;  // seen ready since this launch
  };
  struct Role {
    RoleSpec spec;
    std::string alias_of;
  };

  SchedulerOptions opt;
  Clock& clock;
  WorkerProbe& probe;
  std::unique_ptr<ProcessLauncher> launcher;
  roles::RolePlanner planner;
  std::vector<Role> roles;              // creation order
  std::vector<Slot> slots;              // launch order
  std::map<std::string, int> launches;  // worker id -> how many times started
  std::deque<ExitEvent> exits;          // seen while waiting for readiness, not yet returned
  std::vector<std::string> warnings;
  std::optional<WorkerFailure> failure;
  // Each communication group's current version and what it was made from
  // (its members and how many times each was launched again).
  struct GroupState {
    CommGroup group;
    std::vector<std::pair<std::string, int>> key;
  };
  std::map<std::string, GroupState> comm_groups;
  std::set<std::string> created;  // roles CreateWorkers was asked for

  Impl(SchedulerOptions o, std::unique_ptr<ProcessLauncher> l, roles::RolePlanner p)
      : opt(std::move(o)),
        clock(opt.clock != nullptr ? *opt.clock : Clock::System()),
        probe(opt.probe != nullptr ? *opt.probe : WorkerProbe::System()),
        launcher(std::move(l)),
        planner(std::move(p)) {}

  void Emit(SchedulerEvent::Kind kind, const std::string& worker, std::string detail = {},
            double seconds = 0) const {
    if (opt.on_event) opt.on_event({kind, worker, std::move(detail), seconds});
  }
  const Role* FindRole(const std::string& name) const {
    for (const Role& r : roles) {
      if (r.spec.name == name) return &r;
    }
    return nullptr;
  }
  Slot* FindByLaunchId(const std::string& launch_id) {
    for (Slot& s : slots) {
      if (s.launch_id == launch_id) return &s;
    }
    return nullptr;
  }
  std::vector<std::string> IdsOf(const std::string& role) const {
    std::vector<std::string> ids;
    for (const Slot& s : slots) {
      if (s.worker.plan.role == role) ids.push_back(s.worker.plan.id);
    }
    return ids;
  }
  std::vector<std::string> RoleNames() const {
    std::vector<std::string> names;
    for (const Role& r : roles) names.push_back(r.spec.name);
    return names;
  }

  // Starts the plans' workers in one batch, all or none (their env gains
  // the communication groups they are members of).
  Status Launch(std::vector<WorkerPlan> plans);
  // The groups' members now (`launching` about to start, counted launched
  // once more): a group whose members changed gets a new version and port.
  // Sets the groups' env on `launching`.
  void RefreshCommGroups(std::vector<WorkerPlan>* launching);
  // Waits until every slot of `role` is ready. `deadline`: GetWorkers' bound;
  // else each worker's own startup timeout. `conflict_port`: where to say
  // which port was lost when a worker exited because another process took it
  // (then the caller may try again with new ports); nullptr: no retry left.
  // `only`: just these worker ids of the role (a restarted unit).
  Status AwaitReady(const std::string& role, std::optional<Clock::TimePoint> deadline,
                    std::string* conflict_port, const std::set<std::string>* only = nullptr);
  // Notes an exit event on its worker and queues it for WaitExits.
  void Record(ExitEvent e);
  // Record() for every event the launcher has pending.
  void TakeExits();
  // Stops the role's workers: all but index 0 together, then index 0.
  // `forget`: drop them from the records (a rollback, or delete_workers).
  Status Stop(const std::string& role, bool forget);
  // Stops the workers of each stage (launcher ids) together, stage after
  // stage. `forget`: drop them from the records.
  Status StopStages(const std::vector<std::vector<std::string>>& stages, bool forget);
  // Stops these workers (a unit, by worker id) in teardown order;
  // `forget`: drop them from the records.
  Status StopUnit(const std::vector<std::string>& unit, bool forget);
  // before_stop, then up to `grace` for the stage's processes to exit.
  void StopGently(const std::vector<std::string>& stage);
  // Records the failure of slot `s` (with its log tail) and returns `why` with the tail.
  Status Fail(const Status& why, const Slot& s, int exit_code, const std::string& description);
};

}  // namespace berth
