// What the Scheduler does to processes (scheduler_impl.h): launch a batch of
// workers, wait for their readiness, record their exits, stop them in order.
// Everything goes through the launcher, the probe and the clock of the
// options, so this logic runs the same on fakes (scheduler_fake_test.cc).

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/read_file.h"
#include "common/text.h"
#include "scheduler/scheduler_impl.h"

namespace berth {

using common::Quote;
namespace {

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

// What readiness means for a worker (kNone: a target without a port, which
// a probe reports not ready; the caller treats kNone as ready).
ReadinessTarget ProbeOf(const WorkerPlan& w) {
  ReadinessTarget t{w.address, -1, {}};
  for (const auto& [name, p] : w.ports) {
    if (name == w.readiness.port) t.port = p;
  }
  if (w.readiness.kind == Readiness::Kind::kHttp) t.path = w.readiness.path;
  if (w.readiness.kind == Readiness::Kind::kNone) t.port = -1;
  return t;
}

}  // namespace

Status Scheduler::Impl::Launch(std::vector<WorkerPlan> plans) {
  RefreshCommGroups(&plans);
  const std::vector<std::pair<std::string, std::string>> base =
      opt.base_env ? *opt.base_env : BerthEnvironment();
  std::vector<LaunchSpec> specs;
  specs.reserve(plans.size());
  for (const WorkerPlan& w : plans) {
    LaunchSpec spec{.id = w.id, .argv = w.argv};
    const int n = ++launches[w.id];
    if (n > 1) spec.id.append(1, '@').append(std::to_string(n));
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
    spec.log_root = opt.log_root.empty() ? opt.log_dir : opt.log_root;
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
  // One batch: the launcher forks them all before it waits for any exec,
  // and starts all or none.
  Result<std::vector<int>> pids = launcher->SpawnMany(specs);
  // The launcher's code is kept: a link planted at a log is the user's to
  // remove (kInvalidSpec), not a failure of the runtime.
  if (!pids) return {pids.error().code(), "the workers did not start: " + pids.error().message()};
  const Clock::TimePoint now = clock.Now();
  for (size_t i = 0; i < plans.size(); ++i) {
    Slot s;
    s.worker.plan = plans[i];
    s.worker.pid = (*pids)[i];
    s.worker.log_path = specs[i].log_path;
    s.worker.restarts = launches[plans[i].id] - 1;
    s.launch_id = specs[i].id;
    s.started = now;
    slots.push_back(std::move(s));
  }
  for (const WorkerPlan& w : plans) Emit(SchedulerEvent::Kind::kStarted, w.id);
  return Status::Ok();
}

void Scheduler::Impl::Record(ExitEvent e) {
  Slot* s = FindByLaunchId(e.id);
  if (s == nullptr) return;  // rolled back: nobody asks about it
  s->worker.exit = e.description;
  s->worker.exit_status = ExitCodeOf(e);
  if (s->worker.phase != WorkerPhase::kStopped) {
    s->worker.phase = e.success() ? WorkerPhase::kExited : WorkerPhase::kFailed;
  }
  exits.push_back(std::move(e));
}

void Scheduler::Impl::TakeExits() {
  for (ExitEvent& e : launcher->PollExits()) Record(std::move(e));
}

Status Scheduler::Impl::Fail(const Status& why, const Slot& s, int exit_code,
                             const std::string& description) {
  failure = WorkerFailure{s.worker.plan.id, exit_code, description,
                          common::LogTail(s.worker.log_path, kTailLines)};
  return {why.code(),
          why.message() + "; last lines of " + s.worker.log_path + ":\n" + failure->log_tail};
}

Status Scheduler::Impl::AwaitReady(const std::string& role,
                                   std::optional<Clock::TimePoint> deadline,
                                   std::string* conflict_port, const std::set<std::string>* only) {
  // Probed again after 1 ms, then ever less often, at most every 10 ms: a
  // worker that listens within a few milliseconds is seen ready in about
  // that, one that takes minutes costs no more probes than before.
  milliseconds pause(1);
  while (true) {
    if (opt.interrupted && opt.interrupted()) return Unavailable("interrupted");
    TakeExits();
    std::vector<Slot*> waiting;  // started, not yet ready
    for (Slot& s : slots) {
      if (s.worker.plan.role != role || s.worker.phase == WorkerPhase::kReady) continue;
      if (only != nullptr && !only->contains(s.worker.plan.id)) continue;
      // Ready, then ended while the rest of its role still starts: an exit
      // after start-up like any other, for WaitExits to report and the role's
      // on_failure to answer (a restart of its unit), not a failed start of
      // the role. GetWorkers (a deadline) still answers with it.
      if (s.was_ready && !deadline) continue;
      const WorkerPlan& w = s.worker.plan;
      if (s.worker.phase == WorkerPhase::kExited && w.readiness.kind == Readiness::Kind::kNone) {
        // Nothing to wait for, and it finished well (a one-shot job, or
        // /bin/true) before the first look: started, not failed. WaitExits
        // reports its exit.
        continue;
      }
      if (s.worker.phase == WorkerPhase::kExited || s.worker.phase == WorkerPhase::kFailed) {
        // Taken by someone else meanwhile? Then a new port may cure it.
        for (const auto& [name, port] : w.ports) {
          if (conflict_port != nullptr && !probe.PortFree(port)) {
            *conflict_port = name + " " + std::to_string(port);
            return Unavailable("worker " + w.id + " exited at start-up and its port " + name +
                               " (" + std::to_string(port) + ") is taken by another process");
          }
        }
        // Answered here: WaitExits does not report it again.
        exits.erase(std::remove_if(exits.begin(), exits.end(),
                                   [&](const ExitEvent& e) { return e.id == s.launch_id; }),
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
    std::vector<ReadinessTarget> targets;
    targets.reserve(waiting.size());
    for (const Slot* s : waiting) targets.push_back(ProbeOf(s->worker.plan));
    const std::vector<bool> up = probe.Ready(targets, milliseconds(200));
    size_t pending = 0;
    for (size_t i = 0; i < waiting.size(); ++i) {
      Slot& s = *waiting[i];
      const WorkerPlan& w = s.worker.plan;
      if (w.readiness.kind == Readiness::Kind::kNone || up[i]) {
        s.worker.phase = WorkerPhase::kReady;
        s.was_ready = true;
        Emit(SchedulerEvent::Kind::kReady, w.id, {},
             std::chrono::duration<double>(clock.Now() - s.started).count());
        continue;
      }
      const auto own = s.started + std::chrono::duration_cast<Clock::Duration>(
                                       std::chrono::duration<double>(w.startup_timeout_s));
      if (clock.Now() > (deadline ? *deadline : own)) {
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
    clock.SleepFor(pause);
    pause = std::min(pause * 2, milliseconds(10));
  }
}

void Scheduler::Impl::StopGently(const std::vector<std::string>& stage) {
  std::vector<WorkerPlan> plans;
  for (const std::string& id : stage) {
    Slot* s = FindByLaunchId(id);
    if (s->worker.phase == WorkerPhase::kStarting || s->worker.phase == WorkerPhase::kReady) {
      plans.push_back(s->worker.plan);
    }
  }
  if (plans.empty()) return;
  opt.before_stop(plans);
  const Clock::TimePoint deadline = clock.Now() + opt.grace;
  while (clock.Now() < deadline) {
    TakeExits();
    bool running = false;
    for (const std::string& id : stage) {
      const WorkerPhase p = FindByLaunchId(id)->worker.phase;
      running |= p == WorkerPhase::kStarting || p == WorkerPhase::kReady;
    }
    if (!running) return;
    clock.SleepFor(milliseconds(20));
  }
}

Status Scheduler::Impl::Stop(const std::string& role, bool forget) {
  std::vector<std::string> others;
  std::vector<std::string> first;
  for (const Slot& s : slots) {
    if (s.worker.plan.role != role) continue;
    (s.worker.plan.index == 0 ? first : others).push_back(s.launch_id);
  }
  return StopStages({others, first}, forget);
}

Status Scheduler::Impl::StopStages(const std::vector<std::vector<std::string>>& stages,
                                   bool forget) {
  Status result;
  for (const std::vector<std::string>& stage : stages) {
    if (stage.empty()) continue;
    if (opt.before_stop) StopGently(stage);
    Status st = launcher->TerminateMany(stage, opt.grace);
    if (!st.ok() && result.ok()) result = st;
    TakeExits();
    for (const std::string& id : stage) {
      Slot* s = FindByLaunchId(id);
      if (s->worker.phase == WorkerPhase::kStarting || s->worker.phase == WorkerPhase::kReady) {
        s->worker.phase = WorkerPhase::kStopped;
      }
      Emit(SchedulerEvent::Kind::kStopped, s->worker.plan.id, s->worker.exit);
    }
  }
  // Their exit events are answered here; nobody waits for them later.
  std::set<std::string> gone;
  for (const std::vector<std::string>& stage : stages) gone.insert(stage.begin(), stage.end());
  exits.erase(std::remove_if(exits.begin(), exits.end(),
                             [&](const ExitEvent& e) { return gone.contains(e.id); }),
              exits.end());
  if (forget) {
    slots.erase(std::remove_if(slots.begin(), slots.end(),
                               [&](const Slot& s) { return gone.contains(s.launch_id); }),
                slots.end());
  }
  return result;
}

}  // namespace berth
