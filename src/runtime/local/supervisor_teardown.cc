// The supervisor process's terminations: scan for a teardown's processes, signal them, finish.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "runtime/local/proc_scan.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/supervisor_process.h"
#include "runtime/local/targets.h"

namespace berth::runtime::local {
void Supervisor::StartTeardown(Teardown td, milliseconds grace) {
  td.escalation = Escalation(SteadyClock::now(), grace, opts_.kill_timeout);
  // The full scan that finds everything to signal, escaped descendants
  // included, while the machine is still quiet; then the signals.
  const std::vector<ProcInfo> targets = ScanAndSignal(td, /*full=*/true);
  const bool empty = targets.empty() && WorkersExited(td);
  if (td.escalation.AfterScan(SteadyClock::now(), empty, /*full=*/true) ==
      Escalation::Verdict::kDone) {
    Finish(td, Status::Ok());
    return;
  }
  teardowns_.push_back(std::move(td));
}

void Supervisor::BeginFinal(milliseconds grace, uint64_t req) {
  if (final_started_) {
    for (Teardown& td : teardowns_) {
      if (td.final && td.req == 0) td.req = req;
    }
    return;
  }
  final_started_ = true;
  Teardown td;
  td.req = req;
  td.all = true;
  td.final = true;
  StartTeardown(std::move(td), grace);
}

bool Supervisor::WorkersExited(const Teardown& td) const {
  if (td.all) return by_pid_.empty();
  return std::ranges::all_of(td.ids, [&](const std::string& id) { return workers_.at(id).exited; });
}

std::vector<ProcInfo> Supervisor::Targets(const Teardown& td, bool full) {
  TargetQuery q;
  q.self = getpid();
  q.all = td.all;
  q.marker_prefix = token_ + "/";
  if (!td.all) {
    for (const std::string& id : td.ids) {
      const Worker& w = workers_.at(id);
      if (!w.exited) q.roots.insert(w.pid);
      q.groups.insert(w.pid);
      q.markers.insert(w.marker);
    }
  }
  q.full_scan = full;
  return SelectTargets(ListProcesses(), q,
                       [](pid_t pid) { return ReadEnvVar(pid, kSupervisorTokenVar); });
}

void Supervisor::SignalWorker(Teardown& td, pid_t pid) {
  if (td.escalation.killing()) {
    kill(pid, SIGKILL);
  } else if (td.termed_workers.insert(pid).second) {
    // SIGCONT so that a stopped process gets to act on SIGTERM.
    if (kill(pid, SIGTERM) == 0) kill(pid, SIGCONT);
  }
}

void Supervisor::SignalWorkers(Teardown& td) {
  if (td.all) {
    for (const auto& [pid, id] : by_pid_) SignalWorker(td, pid);
    return;
  }
  for (const std::string& id : td.ids) {
    const Worker& w = workers_.at(id);
    if (!w.exited) SignalWorker(td, w.pid);
  }
}

std::vector<ProcInfo> Supervisor::ScanAndSignal(Teardown& td, bool full) {
  std::vector<ProcInfo> targets = Targets(td, full);
  // The workers' main processes first: plain kill()s, done in a moment even
  // while the signalled processes compete for the CPU. Then the others,
  // through pidfds (a scanned pid may have been reused).
  SignalWorkers(td);
  td.known.clear();
  for (const ProcInfo& p : targets) {
    if (by_pid_.contains(p.pid)) {
      SignalWorker(td, p.pid);  // followed by reaping it
      continue;
    }
    td.known.push_back(p);
    if (td.escalation.killing()) {
      SignalProcess(p, SIGKILL);
    } else if (auto [it, first] = td.termed.try_emplace({p.pid, p.starttime}, p.comm);
               first || it->second != p.comm) {
      // Again when it has exec'd since: signalled between fork and exec, a
      // shell's child runs the shell's trap for SIGTERM instead of dying, and
      // then becomes the program. SIGCONT so that a stopped process gets to
      // act on SIGTERM.
      it->second = p.comm;
      if (SignalProcess(p, SIGTERM)) SignalProcess(p, SIGCONT);
    }
  }
  return targets;
}

bool Supervisor::LooksDone(Teardown& td) {
  if (!WorkersExited(td)) return false;
  if (td.all && !no_children_) return false;
  // Drop what has gone since the last scan; stop at the first that lives.
  while (!td.known.empty()) {
    const ProcInfo& p = td.known.back();
    std::optional<ProcInfo> now = ReadProc(p.pid);
    if (now && !now->zombie() && now->starttime == p.starttime) return false;
    td.known.pop_back();
  }
  return true;
}

void Supervisor::AdvanceTeardowns(bool reaped) {
  for (auto it = teardowns_.begin(); it != teardowns_.end();) {
    Teardown& td = *it;
    const Escalation::Turn turn =
        td.escalation.Plan(SteadyClock::now(), reaped, [&] { return LooksDone(td); });
    if (!turn.scan) {
      ++it;
      continue;
    }
    const std::vector<ProcInfo> targets = ScanAndSignal(td, turn.full);
    const bool empty = targets.empty() && WorkersExited(td);
    switch (td.escalation.AfterScan(SteadyClock::now(), empty, turn.full)) {
      case Escalation::Verdict::kGoOn:
        ++it;
        continue;
      case Escalation::Verdict::kDone:
        Finish(td, Status::Ok());
        break;
      case Escalation::Verdict::kGiveUp: {
        std::string who;
        for (const ProcInfo& p : targets) {
          if (!who.empty()) who += ", ";
          who += std::to_string(p.pid) + " (state " + p.state + ")";
        }
        if (who.empty()) who = "none visible, but a worker was not reaped";
        Finish(td, BackendError("processes survived SIGKILL for " +
                                std::to_string(opts_.kill_timeout.count()) + " ms: " + who));
        break;
      }
    }
    it = teardowns_.erase(it);
  }
}

void Supervisor::Finish(const Teardown& td, const Status& status) {
  if (td.rollback) {
    // The batch's workers are gone: forget them (their ids are free again).
    // Their logs keep what they wrote.
    for (const std::string& id : td.ids) {
      auto w = workers_.find(id);
      if (w == workers_.end()) continue;
      if (!w->second.exited) by_pid_.erase(w->second.pid);
      w->second.output->Drain(64);
      w->second.output->Finish();
      workers_.erase(w);
    }
    Status reply = td.rollback_error;
    if (!status.ok()) {
      reply = Status(reply.code(), reply.message() + "; undoing it: " + status.message());
    }
    if (td.req != 0) ReplySpawned(td.req, {}, reply);
    return;
  }
  if (td.req != 0) Reply(td.req, 0, status);
  if (td.final) {
    if (!status.ok()) {
      Complain(status.message());
      exit_code_ = 1;
    }
    exit_now_ = true;
  }
}

}  // namespace berth::runtime::local
