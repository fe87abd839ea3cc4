// The Scheduler (include/berth/scheduler.h): roles placed with a RolePlanner,
// their workers started by the ProcessSupervisor, readiness probed from here.
//
// Supervisor ids: a worker keeps its id ("actor/0") in the plan and the API,
// but the supervisor never reuses an id, so a worker started again (a port
// conflict, a role created anew after delete_workers) runs as "actor/0@2".

#include "berth/scheduler.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include "berth/process.h"
#include "common/read_file.h"
#include "common/text.h"
#include "roles/ports.h"
#include "roles/role_planner.h"
#include "scheduler/probe.h"

namespace berth {

using common::Quote;
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kTailLines = 50;

std::string LogName(const std::string& id) {
  std::string s = id;
  std::replace(s.begin(), s.end(), '/', '.');
  return s + ".log";
}

int ExitCodeOf(const ExitEvent& e) { return e.signal != 0 ? 128 + e.signal : e.exit_code; }

std::vector<std::pair<std::string, std::string>> BerthEnvironment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    std::string key(*e, static_cast<size_t>(eq - *e));
    if (key == kSupervisorTokenVar) continue;
    env.emplace_back(key, eq + 1);
  }
  return env;
}

// "roles[2]" -> role "ref": the API has no experiment file to point into.
std::string RenamePaths(std::string msg, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string from = "roles[" + std::to_string(i) + "]";
    const std::string to = "role " + Quote(names[i]);
    for (size_t at = msg.find(from); at != std::string::npos; at = msg.find(from, at + to.size())) {
      msg.replace(at, from.size(), to);
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

struct Scheduler::Impl {
  struct Slot {
    Worker worker;
    std::string sup_id;  // the supervisor's id of this launch
    Clock::time_point started;
  };
  struct Role {
    RoleSpec spec;
    std::string alias_of;
  };

  SchedulerOptions opt;
  std::unique_ptr<ProcessSupervisor> sup;
  roles::RolePlanner planner;
  std::vector<Role> roles;              // creation order
  std::vector<Slot> slots;              // launch order
  std::map<std::string, int> launches;  // worker id -> how many times started
  std::deque<ExitEvent> exits;          // seen while waiting for readiness, not yet returned
  std::vector<std::string> warnings;
  std::optional<WorkerFailure> failure;

  Impl(SchedulerOptions o, std::unique_ptr<ProcessSupervisor> s, roles::RolePlanner p)
      : opt(std::move(o)), sup(std::move(s)), planner(std::move(p)) {}

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
  Slot* FindBySupId(const std::string& sup_id) {
    for (Slot& s : slots) {
      if (s.sup_id == sup_id) return &s;
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

  Status Launch(const std::vector<WorkerPlan>& plans);
  // Waits until every slot of `role` is ready. `deadline`: GetWorkers' bound;
  // else each worker's own startup timeout.
  Status AwaitReady(const std::string& role, std::optional<Clock::time_point> deadline,
                    std::string* conflict_port);
  // Notes an exit event on its worker and queues it for WaitExits.
  void Record(ExitEvent e);
  // Record() for every event the supervisor has pending.
  void TakeExits();
  Status Stop(const std::string& role, bool forget);
  void StopGently(const std::vector<std::string>& stage);
  Status Fail(const Status& why, const Slot& s, int exit_code, const std::string& description);
};

Status Scheduler::Impl::Launch(const std::vector<WorkerPlan>& plans) {
  const std::vector<std::pair<std::string, std::string>> base =
      opt.base_env ? *opt.base_env : BerthEnvironment();
  std::vector<LaunchSpec> specs;
  specs.reserve(plans.size());
  for (const WorkerPlan& w : plans) {
    LaunchSpec spec{.id = w.id, .argv = w.argv};
    const int n = ++launches[w.id];
    if (n > 1) spec.id += "@" + std::to_string(n);
    // The base environment, then the plan's variables over it.
    std::map<std::string, size_t> at;
    for (const auto& kv : base) {
      at[kv.first] = spec.env.size();
      spec.env.push_back(kv);
    }
    for (const auto& [k, v] : w.env) {
      auto it = at.find(k);
      if (it != at.end()) {
        spec.env[it->second].second = v;
      } else {
        at[k] = spec.env.size();
        spec.env.emplace_back(k, v);
      }
    }
    spec.log_path = opt.log_dir + "/" + LogName(w.id);
    spec.merged_log_path = opt.merged_log;
    if (opt.wrap_launch) {
      const std::string id = spec.id;
      Result<LaunchSpec> wrapped = opt.wrap_launch(w, std::move(spec));
      if (!wrapped) {
        return {wrapped.error().code(), "worker " + w.id + ": " + wrapped.error().message()};
      }
      spec = std::move(wrapped).value();
      spec.id = id;
    }
    specs.push_back(std::move(spec));
  }
  // One batch: the supervisor forks them all before it waits for any exec,
  // and starts all or none.
  Result<std::vector<int>> pids = sup->SpawnMany(specs);
  if (!pids) return BackendError("the workers did not start: " + pids.error().message());
  const auto now = Clock::now();
  for (size_t i = 0; i < plans.size(); ++i) {
    Slot s;
    s.worker.plan = plans[i];
    s.worker.pid = (*pids)[i];
    s.worker.log_path = specs[i].log_path;
    s.worker.restarts = launches[plans[i].id] - 1;
    s.sup_id = specs[i].id;
    s.started = now;
    slots.push_back(std::move(s));
  }
  for (const WorkerPlan& w : plans) Emit(SchedulerEvent::Kind::kStarted, w.id);
  return Status::Ok();
}

// What readiness means for a worker (kNone: a target without a port, which
// ProbeMany reports not ready; the caller treats kNone as ready).
static scheduler::ProbeTarget ProbeOf(const WorkerPlan& w) {
  scheduler::ProbeTarget t{w.address, -1, {}};
  for (const auto& [name, p] : w.ports) {
    if (name == w.readiness.port) t.port = p;
  }
  if (w.readiness.kind == Readiness::Kind::kHttp) t.path = w.readiness.path;
  if (w.readiness.kind == Readiness::Kind::kNone) t.port = -1;
  return t;
}

void Scheduler::Impl::Record(ExitEvent e) {
  Slot* s = FindBySupId(e.id);
  if (s == nullptr) return;  // rolled back: nobody asks about it
  s->worker.exit = e.description;
  s->worker.exit_status = ExitCodeOf(e);
  if (s->worker.phase != WorkerPhase::kStopped) {
    s->worker.phase = e.success() ? WorkerPhase::kExited : WorkerPhase::kFailed;
  }
  exits.push_back(std::move(e));
}

void Scheduler::Impl::TakeExits() {
  for (ExitEvent& e : sup->PollExits()) Record(std::move(e));
}

Status Scheduler::Impl::Fail(const Status& why, const Slot& s, int exit_code,
                             const std::string& description) {
  failure = WorkerFailure{s.worker.plan.id, exit_code, description,
                          common::LogTail(s.worker.log_path, kTailLines)};
  return {why.code(),
          why.message() + "; last lines of " + s.worker.log_path + ":\n" + failure->log_tail};
}

Status Scheduler::Impl::AwaitReady(const std::string& role,
                                   std::optional<Clock::time_point> deadline,
                                   std::string* conflict_port) {
  while (true) {
    if (opt.interrupted && opt.interrupted()) return Unavailable("interrupted");
    TakeExits();
    std::vector<Slot*> waiting;  // started, not yet ready
    for (Slot& s : slots) {
      if (s.worker.plan.role != role || s.worker.phase == WorkerPhase::kReady) continue;
      const WorkerPlan& w = s.worker.plan;
      if (s.worker.phase == WorkerPhase::kExited || s.worker.phase == WorkerPhase::kFailed) {
        // Taken by someone else meanwhile? Then a new port may cure it.
        for (const auto& [name, port] : w.ports) {
          if (conflict_port != nullptr && !roles::CanBindPort(port)) {
            *conflict_port = name + " " + std::to_string(port);
            return Unavailable("worker " + w.id + " exited at start-up and its port " + name +
                               " (" + std::to_string(port) + ") is taken by another process");
          }
        }
        // Answered here: WaitExits does not report it again.
        exits.erase(std::remove_if(exits.begin(), exits.end(),
                                   [&](const ExitEvent& e) { return e.id == s.sup_id; }),
                    exits.end());
        const int code = s.worker.exit_status;
        // CreateWorkers (no deadline) waits for workers that were never
        // ready; by the time of a GetWorkers (a deadline) they all were.
        return Fail(WorkerFailed("worker " + w.id + " " + s.worker.exit +
                                 (deadline ? " after it was ready (see its log)"
                                           : " during start-up (fix the worker or its cmd, "
                                             "see its log)")),
                    s, code == 0 ? 1 : code, s.worker.exit);
      }
      waiting.push_back(&s);
    }
    if (waiting.empty()) return Status::Ok();
    // Probe them all at once.
    std::vector<scheduler::ProbeTarget> targets;
    targets.reserve(waiting.size());
    for (const Slot* s : waiting) targets.push_back(ProbeOf(s->worker.plan));
    const std::vector<bool> up = scheduler::ProbeMany(targets, milliseconds(200));
    size_t pending = 0;
    for (size_t i = 0; i < waiting.size(); ++i) {
      Slot& s = *waiting[i];
      const WorkerPlan& w = s.worker.plan;
      if (w.readiness.kind == Readiness::Kind::kNone || up[i]) {
        s.worker.phase = WorkerPhase::kReady;
        Emit(SchedulerEvent::Kind::kReady, w.id, {},
             std::chrono::duration<double>(Clock::now() - s.started).count());
        continue;
      }
      const auto own = s.started + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(w.startup_timeout_s));
      if (Clock::now() > (deadline ? *deadline : own)) {
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g",
                      deadline ? std::chrono::duration<double>(*deadline - s.started).count()
                               : w.startup_timeout_s);
        const std::string what = "not ready within " + std::string(secs) + " s";
        return Fail(Timeout("worker " + w.id + " was " + what +
                            (deadline ? " (raise the timeout of get_workers, or check its "
                                        "readiness port)"
                                      : " (raise startup_timeout of role " + Quote(role) +
                                            ", or check its readiness port)")),
                    s, 1, what);
      }
      ++pending;
    }
    if (pending == 0) return Status::Ok();
    std::this_thread::sleep_for(milliseconds(10));
  }
}

// before_stop, then up to `grace` for the stage's processes to exit.
void Scheduler::Impl::StopGently(const std::vector<std::string>& stage) {
  std::vector<WorkerPlan> plans;
  for (const std::string& id : stage) {
    Slot* s = FindBySupId(id);
    if (s->worker.phase == WorkerPhase::kStarting || s->worker.phase == WorkerPhase::kReady) {
      plans.push_back(s->worker.plan);
    }
  }
  if (plans.empty()) return;
  opt.before_stop(plans);
  const auto deadline = Clock::now() + opt.grace;
  while (Clock::now() < deadline) {
    TakeExits();
    bool running = false;
    for (const std::string& id : stage) {
      const WorkerPhase p = FindBySupId(id)->worker.phase;
      running |= p == WorkerPhase::kStarting || p == WorkerPhase::kReady;
    }
    if (!running) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// Stops the role's workers: all but index 0 together, then index 0.
// `forget`: drop them from the records (a rollback, or delete_workers).
Status Scheduler::Impl::Stop(const std::string& role, bool forget) {
  std::vector<std::string> others;
  std::vector<std::string> first;
  for (const Slot& s : slots) {
    if (s.worker.plan.role != role) continue;
    (s.worker.plan.index == 0 ? first : others).push_back(s.sup_id);
  }
  Status result;
  for (const auto* stage : {&others, &first}) {
    if (stage->empty()) continue;
    if (opt.before_stop) StopGently(*stage);
    Status st = sup->TerminateMany(*stage, opt.grace);
    if (!st.ok() && result.ok()) result = st;
    TakeExits();
    for (const std::string& id : *stage) {
      Slot* s = FindBySupId(id);
      if (s->worker.phase == WorkerPhase::kStarting || s->worker.phase == WorkerPhase::kReady) {
        s->worker.phase = WorkerPhase::kStopped;
      }
      Emit(SchedulerEvent::Kind::kStopped, s->worker.plan.id, s->worker.exit);
    }
  }
  // Their exit events are answered here; nobody waits for them later.
  std::set<std::string> gone(others.begin(), others.end());
  gone.insert(first.begin(), first.end());
  exits.erase(std::remove_if(exits.begin(), exits.end(),
                             [&](const ExitEvent& e) { return gone.contains(e.id); }),
              exits.end());
  if (forget) {
    slots.erase(std::remove_if(slots.begin(), slots.end(),
                               [&](const Slot& s) { return s.worker.plan.role == role; }),
                slots.end());
  }
  return result;
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
                                                    std::unique_ptr<ProcessSupervisor> sup) {
  if (sup == nullptr) return InvalidSpec("Scheduler::Start: no process supervisor given");
  if (options.log_dir.empty())
    return InvalidSpec("SchedulerOptions.log_dir is empty; give a folder for the workers' logs");
  if (options.port_attempts < 1) {
    return InvalidSpec("SchedulerOptions.port_attempts is " +
                       std::to_string(options.port_attempts) + "; give at least 1");
  }
  if (options.merged_log.empty()) options.merged_log = options.log_dir + "/merged.log";
  if (!options.ports) options.ports = roles::LocalFreePorts();
  BERTH_ASSIGN_OR_RETURN(roles::RolePlanner planner, roles::RolePlanner::Create(options.nodes));
  return std::unique_ptr<Scheduler>(new Scheduler(
      std::make_unique<Impl>(std::move(options), std::move(sup), std::move(planner))));
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
  if (!valid.ok()) return Status(valid.code(), call + RenamePaths(valid.message(), names));

  std::vector<roles::ForkRole> forks;
  for (const RoleSpec& r : s.opt.expected_roles) {
    if (r.colocation && r.colocation->fork && r.colocation->target == job.name) {
      forks.push_back({index, r});
    }
  }
  for (int attempt = 1;; ++attempt) {
    Result<roles::PlacedRole> placed = s.planner.Add(job, index, forks, s.opt.ports);
    if (!placed) {
      return Status(placed.error().code(), call + RenamePaths(placed.error().message(), names));
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
    if (conflict.empty()) return Status(st.code(), call + st.message());
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
  Status st = s.AwaitReady(owner, Clock::now() + timeout, nullptr);
  if (!st.ok()) return Status(st.code(), call + st.message());
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
    Result<std::optional<ExitEvent>> e = s.sup->WaitExit(timeout);
    if (!e) return e.error();
    if (e->has_value()) {
      s.Record(std::move(**e));
      s.TakeExits();
    }
  }
  std::vector<Worker> out;
  for (const ExitEvent& e : s.exits) {
    const Impl::Slot* slot = s.FindBySupId(e.id);
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
