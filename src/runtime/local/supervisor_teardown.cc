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
namespace {

// While a termination lasts (a grace period running out), processes outside
// our subtree are checked for our marker this often (they can only exist if
// something escaped the subreaper, e.g. via another daemon).
constexpr milliseconds kFullScanEvery{1000};

}  // namespace

void Supervisor::StartTeardown(Teardown td, milliseconds grace) {
  auto now = Clock::now();
  td.kill_at = now + grace;
  td.give_up_at = td.kill_at + opts_.kill_timeout;
  td.killing = grace.count() == 0;
  td.next_full_scan = now + kFullScanEvery;
  td.next_scan = now + td.backoff;
  // The full scan that finds everything to signal, escaped descendants
  // included, while the machine is still quiet; then the signals.
  const std::vector<ProcInfo> targets = ScanAndSignal(td, /*full=*/true);
  if (targets.empty() && WorkersExited(td)) {
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
  if (td.killing) {
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
  td.last_scan = Clock::now();
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
    if (td.killing) {
      SignalProcess(p, SIGKILL);
    } else if (td.termed.insert({p.pid, p.starttime}).second) {
      // SIGCONT so that a stopped process gets to act on SIGTERM.
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
    auto now = Clock::now();
    const bool to_kill = !td.killing && now >= td.kill_at;
    if (reaped) {
      // Processes are going: no rescan while they do (a scan competes with
      // them for the CPU, and each would see a table in flux), but at least
      // every kMaxRescan.
      td.next_scan = std::min(std::max(td.next_scan, now + td.backoff), td.last_scan + kMaxRescan);
    }
    const bool due = now >= td.next_scan || (td.killing && now >= td.give_up_at);
    // Cheap checks first: most turns of a termination are exits of the
    // processes it signalled, which need no scan.
    const bool quiet = (reaped || due || to_kill) && LooksDone(td);
    if (!to_kill && !due && !quiet) {
      ++it;
      continue;
    }
    if (to_kill) {
      td.killing = true;
      td.backoff = kFirstRescan;
    }
    // Quiet: the full scan that confirms that nothing is left (or finds
    // newcomers and escapees). Otherwise a scan of our subtree, and now and
    // then a full one.
    const bool full = quiet || now >= td.next_full_scan;
    if (full) td.next_full_scan = now + kFullScanEvery;
    const std::vector<ProcInfo> targets = ScanAndSignal(td, full);
    now = Clock::now();
    if (targets.empty() && WorkersExited(td)) {
      if (full) {
        Finish(td, Status::Ok());
        it = teardowns_.erase(it);
        continue;
      }
      // Looks empty: confirm with a full scan on the next turn.
      td.next_scan = now;
    } else {
      td.next_scan = now + td.backoff;
      td.backoff = std::min(td.backoff * 2, kMaxRescan);
    }
    if (td.killing && now >= td.give_up_at) {
      std::string who;
      for (const ProcInfo& p : targets) {
        if (!who.empty()) who += ", ";
        who += std::to_string(p.pid) + " (state " + p.state + ")";
      }
      if (who.empty()) who = "none visible, but a worker was not reaped";
      Finish(td, BackendError("processes survived SIGKILL for " +
                              std::to_string(opts_.kill_timeout.count()) + " ms: " + who));
      it = teardowns_.erase(it);
      continue;
    }
    ++it;
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
