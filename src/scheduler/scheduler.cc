// The Scheduler (include/berth/scheduler.h): its API. Roles are placed with
// a RolePlanner; what happens to their processes is in scheduler_workers.cc.

#include "berth/scheduler.h"

#include <algorithm>

#include "berth/process.h"
#include "common/text.h"
#include "roles/ports.h"
#include "roles/role_planner.h"
#include "scheduler/gpu_release_wait.h"
#include "scheduler/scheduler_impl.h"

namespace berth {

using common::Quote;
namespace {

// "roles[2] (ref)" and "roles[2]" -> role "ref": the API has no experiment
// file to point into.
std::string RenamePaths(std::string msg, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = "roles[" + std::to_string(i) + "]";
    const std::string to = "role " + Quote(names[i]);
    for (const std::string& from : {path + " (" + names[i] + ")", path}) {
      for (size_t at = msg.find(from); at != std::string::npos;
           at = msg.find(from, at + to.size())) {
        msg.replace(at, from.size(), to);
      }
    }
  }
  return msg;
}

}  // namespace

const char* WorkerPhaseName(WorkerPhase p) {
  switch (p) {
    case WorkerPhase::kStarting:
      return "starting";
    case WorkerPhase::kReady:
      return "ready";
    case WorkerPhase::kExited:
      return "exited";
    case WorkerPhase::kFailed:
      return "failed";
    case WorkerPhase::kStopped:
      return "stopped";
  }
  return "unknown";
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scheduler::~Scheduler() {
  if (impl_) (void)DeleteWorkers();
}

Result<std::unique_ptr<Scheduler>> Scheduler::Start(SchedulerOptions options) {
  SupervisorOptions sup_options;
  sup_options.grace = options.grace;
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ProcessSupervisor> sup,
                         ProcessSupervisor::Start(sup_options));
  return Start(std::move(options), std::move(sup));
}

Result<std::unique_ptr<Scheduler>> Scheduler::Start(SchedulerOptions options,
                                                    std::unique_ptr<ProcessLauncher> launcher) {
  if (launcher == nullptr) return InvalidSpec("Scheduler::Start: no process launcher given");
  if (options.log_dir.empty())
    return InvalidSpec("SchedulerOptions.log_dir is empty; give a folder for the workers' logs");
  if (options.port_attempts < 1) {
    return InvalidSpec("SchedulerOptions.port_attempts is " +
                       std::to_string(options.port_attempts) + "; give at least 1");
  }
  if (options.merged_log.empty()) options.merged_log = options.log_dir + "/merged.log";
  if (!options.ports) options.ports = roles::LocalFreePorts();
  BERTH_ASSIGN_OR_RETURN(roles::RolePlanner planner, roles::RolePlanner::Create(options.nodes));
  if (options.gpu_release_wait.count() > 0) {
    Clock& clock = options.clock != nullptr ? *options.clock : Clock::System();
    std::string no_nvml;
    scheduler::BeforeRestart wait =
        scheduler::GpuReleaseWaitIfNvml(clock, options.gpu_release_wait, &no_nvml);
    if (wait) {
      options.before_restart = [wait = std::move(wait), then = std::move(options.before_restart)](
                                   const std::vector<Worker>& stopped,
                                   const std::vector<WorkerPlan>& next) {
        BERTH_RETURN_IF_ERROR(wait(stopped, next));
        return then ? then(stopped, next) : Status::Ok();
      };
    }
  }
  return std::unique_ptr<Scheduler>(new Scheduler(
      std::make_unique<Impl>(std::move(options), std::move(launcher), std::move(planner))));
}

Result<std::vector<std::string>> Scheduler::CreateWorkers(const RoleSpec& job) {
  Impl& s = *impl_;
  s.failure.reset();
  const std::string call = "create_workers(" + Quote(job.name) + "): ";
  if (s.FindRole(job.name) != nullptr) {
    return InvalidSpec(call + "role " + Quote(job.name) + " already has workers; delete_workers(" +
                       Quote(job.name) + ") first, or use another name");
  }
  if (job.colocation && s.FindRole(job.colocation->target) == nullptr) {
    std::string names;
    for (const std::string& n : s.RoleNames()) names += (names.empty() ? "" : ", ") + n;
    return NotFound(call + "colocation target " + Quote(job.colocation->target) +
                    " has no workers; create it first (roles with workers: " +
                    (names.empty() ? "none" : names) + ")");
  }
  ExperimentSpec known;
  known.name = "scheduler";
  for (const Impl::Role& r : s.roles) known.roles.push_back(r.spec);
  known.roles.push_back(job);
  const size_t index = known.roles.size() - 1;
  std::vector<std::string> names = s.RoleNames();
  names.push_back(job.name);
  Status valid = ValidateExperiment(known);
  if (!valid.ok()) return valid.WithMessage(call + RenamePaths(valid.message(), names));

  std::vector<roles::ForkRole> forks;
  for (const RoleSpec& r : s.opt.expected_roles) {
    if (r.colocation && r.colocation->fork && r.colocation->target == job.name) {
      forks.push_back({index, r});
    }
  }
  s.created.insert(job.name);  // its own workers count in groups from now on
  for (int attempt = 1;; ++attempt) {
    Result<roles::PlacedRole> placed = s.planner.Add(job, index, forks, s.opt.ports);
    if (!placed) {
      return placed.error().WithMessage(call + RenamePaths(placed.error().message(), names));
    }
    if (attempt == 1) {
      for (std::string& w : placed->warnings) s.warnings.push_back(call + RenamePaths(w, names));
    }
    if (!placed->alias_of.empty()) {
      s.roles.push_back({job, placed->alias_of});
      return s.IdsOf(placed->alias_of);
    }
    Status st = s.Launch(placed->workers);
    std::string conflict;
    if (st.ok()) {
      st =
          s.AwaitReady(job.name, std::nullopt, attempt < s.opt.port_attempts ? &conflict : nullptr);
    }
    if (st.ok()) {
      s.roles.push_back({job, {}});
      return s.IdsOf(job.name);
    }
    // Roll back this attempt: processes first, then the groups.
    (void)s.Stop(job.name, /*forget=*/true);
    (void)s.planner.Remove(job.name);
    s.RefreshCommGroups(nullptr);
    if (conflict.empty()) return st.WithPrefix(call);
    s.Emit(SchedulerEvent::Kind::kPortConflict, job.name, conflict);
  }
}

Result<std::vector<std::string>> Scheduler::ForkWorkers(const std::string& role,
                                                        const std::string& target,
                                                        const std::vector<std::string>& command) {
  const Impl::Role* t = impl_->FindRole(target);
  if (t == nullptr) {
    return NotFound("fork_workers(" + Quote(role) + ", " + Quote(target) + "): role " +
                    Quote(target) + " has no workers; create it first");
  }
  RoleSpec fork;
  fork.name = role;
  fork.replicas = t->spec.replicas;
  fork.colocation = Colocation{target, true};
  fork.readiness = t->spec.readiness;
  fork.startup_timeout_s = t->spec.startup_timeout_s;
  for (SchedulingSpec spec : t->spec.tasks) {
    spec.cpu = Quantity();
    spec.mem_gib = Quantity();
    if (!command.empty()) spec.cmd = command;
    fork.tasks.push_back(std::move(spec));
  }
  return CreateWorkers(fork);
}

Result<std::vector<Worker>> Scheduler::GetWorkers(const std::string& role,
                                                  std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  s.failure.reset();
  const Impl::Role* r = s.FindRole(role);
  const std::string call = "get_workers(" + Quote(role) + "): ";
  if (r == nullptr) return NotFound(call + "no role " + Quote(role) + " has workers");
  const std::string& owner = r->alias_of.empty() ? role : r->alias_of;
  Status st = s.AwaitReady(owner, s.clock.Now() + timeout, nullptr);
  if (!st.ok()) return st.WithPrefix(call);
  std::vector<Worker> out;
  for (const Impl::Slot& slot : s.slots) {
    if (slot.worker.plan.role == owner) out.push_back(slot.worker);
  }
  return out;
}

Status Scheduler::DeleteWorkers(const std::optional<std::string>& role) {
  Impl& s = *impl_;
  std::vector<std::string> order;  // roles to stop, in this order
  if (!role) {
    for (auto it = s.roles.rbegin(); it != s.roles.rend(); ++it) order.push_back(it->spec.name);
  } else {
    if (s.FindRole(*role) == nullptr) {
      return NotFound("delete_workers(" + Quote(*role) + "): no role " + Quote(*role) +
                      " has workers");
    }
    // What is colocated on it goes first: a fork cannot outlive its bundle.
    for (auto it = s.roles.rbegin(); it != s.roles.rend(); ++it) {
      if (it->spec.colocation && it->spec.colocation->target == *role) {
        order.push_back(it->spec.name);
      }
    }
    order.push_back(*role);
  }
  Status result;
  for (const std::string& name : order) {
    const Impl::Role* r = s.FindRole(name);
    if (r->alias_of.empty()) {
      Status st = s.Stop(name, /*forget=*/true);
      if (!st.ok() && result.ok()) result = st;
    }
    // Groups are released once their processes are gone.
    if (s.planner.Has(name)) (void)s.planner.Remove(name);
    s.roles.erase(std::find_if(s.roles.begin(), s.roles.end(),
                               [&](const Impl::Role& x) { return x.spec.name == name; }));
  }
  s.RefreshCommGroups(nullptr);
  return result;
}

Status Scheduler::ReplaceCluster(const std::vector<NodeSpec>& nodes) {
  if (!impl_->roles.empty()) {
    return InvalidSpec("replace_cluster: roles still have workers; delete_workers() first");
  }
  BERTH_ASSIGN_OR_RETURN(impl_->planner, roles::RolePlanner::Create(nodes));
  impl_->opt.nodes = nodes;
  return Status::Ok();
}

Result<std::vector<Worker>> Scheduler::WaitExits(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  s.TakeExits();
  if (s.exits.empty()) {
    Result<std::optional<ExitEvent>> e = s.launcher->WaitExit(timeout);
    if (!e) return e.error();
    if (e->has_value()) {
      s.Record(std::move(**e));
      s.TakeExits();
    }
  }
  std::vector<Worker> out;
  for (const ExitEvent& e : s.exits) {
    const Impl::Slot* slot = s.FindByLaunchId(e.id);
    if (slot == nullptr) continue;
    out.push_back(slot->worker);
    s.Emit(SchedulerEvent::Kind::kExited, slot->worker.plan.id, e.description);
  }
  s.exits.clear();
  return out;
}

const Worker* Scheduler::FindWorker(const std::string& id) const {
  for (const Impl::Slot& s : impl_->slots) {
    if (s.worker.plan.id == id) return &s.worker;
  }
  return nullptr;
}

std::vector<Worker> Scheduler::Workers() const {
  std::vector<Worker> out;
  for (const Impl::Slot& s : impl_->slots) out.push_back(s.worker);
  return out;
}

std::vector<std::string> Scheduler::Roles() const { return impl_->RoleNames(); }
std::vector<GroupView> Scheduler::Groups() const { return impl_->planner.engine().Groups(); }
std::vector<std::string> Scheduler::Warnings() const { return impl_->warnings; }
const std::optional<WorkerFailure>& Scheduler::last_failure() const { return impl_->failure; }

}  // namespace berth
