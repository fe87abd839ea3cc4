// The forked supervisor process: one thread, one poll() loop over the control
// socket, a signalfd (SIGCHLD, SIGTERM) and the output pipes of workers that
// feed a merged log. Terminations are state machines advanced by the loop, so
// that reaping, log copying and other requests go on while a grace period runs.
// A spawn batch is handled within one turn: its children are forked without
// waiting for each exec, and their exec outcomes collected in one poll loop
// (spawn.cc); a batch that failed is undone by a termination of the workers
// it started, and answered when that is done.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/fd_io.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/spawn.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/targets.h"
#include "runtime/local/wire.h"
#include "runtime/local/worker_output.h"

namespace berth::runtime::local {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxGrace{600'000};
// A termination does not rescan /proc on every reaped child (that was a scan
// per exiting process). It scans fully (reading the markers of processes
// outside our subtree) when it starts and once more before it declares
// success; in between it waits for SIGCHLD and only rescans our subtree, for
// newcomers to signal and stragglers, with a backoff while something still
// lives: 10, 20, 40, ... ms, at most kMaxRescan apart.
constexpr milliseconds kFirstRescan{10};
constexpr milliseconds kMaxRescan{250};
// While a termination lasts (a grace period running out), processes outside
// our subtree are checked for our marker this often (they can only exist if
// something escaped the subreaper, e.g. via another daemon).
constexpr milliseconds kFullScanEvery{1000};
// Children of one spawn batch between fork and exec at once, at most (each
// holds a pipe until it has exec'd; fewer if descriptors are short).
constexpr size_t kSpawnWindow = 256;
// Bounds the work done for one readable pipe per loop turn.
constexpr int kReadChunksPerTurn = 16;
constexpr size_t kSocketChunk = 64 * 1024;

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void Complain(const std::string& what) {
  std::string line = "berth-supervisor[" + std::to_string(getpid()) + "]: " + what + "\n";
  (void)common::WriteAll(2, line, "stderr");
}

struct Worker {
  std::string id;
  pid_t pid = -1;  // also its process group
  std::string marker;
  bool exited = false;  // reaped
  // Started by a batch that failed and is being undone: no exit event, and
  // the id is forgotten once its processes are gone.
  bool rolling_back = false;
  std::unique_ptr<WorkerOutput> output;
};

struct Teardown {
  uint64_t req = 0;  // 0: nobody waits for a reply
  bool all = false;
  bool final = false;  // the supervisor exits when it is done
  // Undoes a failed spawn batch: the reply is a kSpawned carrying this error.
  bool rollback = false;
  Status rollback_error;
  std::vector<std::string> ids;
  Clock::time_point kill_at;
  Clock::time_point give_up_at;
  Clock::time_point next_scan;
  Clock::time_point last_scan;
  Clock::time_point next_full_scan;
  milliseconds backoff = kFirstRescan;
  bool killing = false;
  std::set<std::pair<pid_t, uint64_t>> termed;  // already sent SIGTERM
  std::set<pid_t> termed_workers;               // worker main processes sent SIGTERM
  // Targets seen alive at the last scan that are not worker main processes
  // (those are followed by reaping them).
  std::vector<ProcInfo> known;
};

class Supervisor {
 public:
  Supervisor(int sock, int sigfd, const SupervisorOptions& options, std::string token, pid_t parent,
             std::optional<struct rlimit> child_nofile)
      : sock_(sock),
        sigfd_(sigfd),
        opts_(options),
        token_(std::move(token)),
        parent_(parent),
        child_nofile_(child_nofile) {}

  [[noreturn]] void Run();

 private:
  void ReadSignals();
  void ReadSocket();
  void HandleFrame(const std::string& body);
  void HandleSpawn(uint64_t req, std::vector<LaunchSpec> specs);
  void HandleTerminate(uint64_t req, bool all, std::vector<std::string> ids, int64_t grace_ms);
  void BeginFinal(milliseconds grace, uint64_t req);
  void StartTeardown(Teardown td, milliseconds grace);
  bool Reap();  // true if it reaped any child
  // Moves the terminations on: signals at their start, at the end of their
  // grace period and to newcomers; finishes those whose processes are gone.
  // `reaped`: a child was reaped this turn.
  void AdvanceTeardowns(bool reaped);
  // Scans /proc for td's targets and signals them as its phase says;
  // `full` also reads the markers of processes outside our subtree.
  std::vector<ProcInfo> ScanAndSignal(Teardown& td, bool full);
  // Signals td's unreaped worker main processes, without scanning.
  void SignalWorkers(Teardown& td);
  // Sends SIGKILL, or SIGTERM and SIGCONT once, to an unreaped worker main
  // process: a plain kill(), as its pid cannot be reused before we reap it.
  void SignalWorker(Teardown& td, pid_t pid);
  std::vector<ProcInfo> Targets(const Teardown& td, bool full);
  bool WorkersExited(const Teardown& td) const;
  // Without scanning: td's workers are reaped and what the last scan found is
  // gone (in `all` mode: and the supervisor has no child left).
  bool LooksDone(Teardown& td);
  void Finish(const Teardown& td, const Status& status);
  void Reply(uint64_t req, int32_t value, const Status& status);
  void ReplySpawned(uint64_t req, const std::vector<int32_t>& pids, const Status& status);
  void Send(std::string frame);
  void FlushOut();
  void LoseParent(const std::string& why);
  [[noreturn]] void Exit();

  int sock_;
  int sigfd_;
  SupervisorOptions opts_;
  std::string token_;
  pid_t parent_;
  std::optional<struct rlimit> child_nofile_;  // berth's RLIMIT_NOFILE, for workers
  FrameBuffer in_;
  std::string out_;
  size_t out_pos_ = 0;
  std::map<std::string, Worker> workers_;
  std::unordered_map<pid_t, std::string> by_pid_;  // unreaped worker pids
  std::list<Teardown> teardowns_;
  bool parent_gone_ = false;  // acted on at the end of a loop turn
  bool term_requested_ = false;
  bool final_started_ = false;
  bool exit_now_ = false;
  bool no_children_ = true;  // the last waitpid(-1) said ECHILD
  int exit_code_ = 0;
};

void Supervisor::Run() {
  std::vector<pollfd> fds;
  std::vector<std::string> readers;
  for (;;) {
    fds.clear();
    readers.clear();
    fds.push_back({sigfd_, POLLIN, 0});
    const bool polled_sock = sock_ >= 0;
    if (polled_sock) {
      short ev = POLLIN;
      if (out_pos_ < out_.size()) ev |= POLLOUT;
      fds.push_back({sock_, ev, 0});
    }
    size_t first_reader = fds.size();
    for (auto& [id, w] : workers_) {
      if (w.output->pipe_fd() < 0) continue;
      fds.push_back({w.output->pipe_fd(), POLLIN, 0});
      readers.push_back(id);
    }
    int timeout = 1000;
    for (const Teardown& td : teardowns_) {
      Clock::time_point at = std::min(td.next_scan, td.killing ? td.give_up_at : td.kill_at);
      auto due = std::chrono::duration_cast<milliseconds>(at - Clock::now()).count();
      timeout = static_cast<int>(std::clamp<int64_t>(due + 1, 0, timeout));
    }
    int r = poll(fds.data(), fds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      Complain("poll: " + ErrnoText(errno) + "; shutting down");
      LoseParent("poll failed");
      usleep(10'000);  // no busy loop while the teardown runs
    }
    if (r > 0) {
      if (fds[0].revents) ReadSignals();
      for (size_t i = 0; i < readers.size(); ++i) {
        if (fds[first_reader + i].revents == 0) continue;
        auto it = workers_.find(readers[i]);
        if (it != workers_.end()) it->second.output->Drain(kReadChunksPerTurn);
      }
      if (polled_sock && sock_ >= 0 && fds[1].revents) {
        if (fds[1].revents & POLLOUT) FlushOut();
        if (sock_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) ReadSocket();
      }
    }
    // Being re-parented means berth died even if the socket stays open (a
    // copy of berth's end leaked into another process).
    if (!parent_gone_ && getppid() != parent_) LoseParent("berth is gone (re-parented)");
    if (parent_gone_ || term_requested_) {
      BeginFinal(opts_.grace, 0);
      term_requested_ = false;
    }
    bool reaped = Reap();
    AdvanceTeardowns(reaped);
    // What this turn produced (exit events, replies) goes out in one send.
    if (out_pos_ < out_.size()) FlushOut();
    if (exit_now_) Exit();
  }
}

void Supervisor::ReadSignals() {
  signalfd_siginfo si;
  while (read(sigfd_, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGTERM) term_requested_ = true;
    // SIGCHLD: Reap() runs every turn.
  }
}

void Supervisor::LoseParent(const std::string& why) {
  (void)why;
  parent_gone_ = true;
  CloseFd(sock_);
  out_.clear();
  out_pos_ = 0;
}

void Supervisor::ReadSocket() {
  char buf[kSocketChunk];
  for (;;) {
    ssize_t n = recv(sock_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in_.Append(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    LoseParent(n == 0 ? "EOF" : "recv failed");  // EOF: berth exited or was killed
    return;
  }
  for (;;) {
    bool bad = false;
    std::optional<std::string> body = in_.Next(&bad);
    if (bad) {
      Complain("oversized frame from berth; shutting down");
      LoseParent("protocol error");
      return;
    }
    if (!body) return;
    HandleFrame(*body);
    if (sock_ < 0) return;
  }
}

void Supervisor::HandleFrame(const std::string& body) {
  WireReader r(body);
  MsgType type;
  uint64_t req = 0;
  if (!r.Type(&type) || !r.U64(&req)) {
    Complain("malformed frame from berth; shutting down");
    LoseParent("protocol error");
    return;
  }
  switch (type) {
    case MsgType::kSpawn: {
      uint32_t n = 0;
      if (!r.U32(&n) || n > r.remaining() / 24) break;  // a spec takes at least 24 bytes
      std::vector<LaunchSpec> specs(n);
      bool ok = true;
      for (LaunchSpec& s : specs) {
        ok = ok && r.Str(&s.id) && r.Strs(&s.argv) && r.Pairs(&s.env) && r.Str(&s.cwd) &&
             r.Str(&s.log_path) && r.Str(&s.merged_log_path);
      }
      if (ok && r.AtEnd()) {
        HandleSpawn(req, std::move(specs));
        return;
      }
      break;
    }
    case MsgType::kTerminate: {
      uint8_t all = 0;
      std::vector<std::string> ids;
      int64_t grace_ms = 0;
      if (r.U8(&all) && r.Strs(&ids) && r.I64(&grace_ms) && r.AtEnd()) {
        HandleTerminate(req, all != 0, std::move(ids), grace_ms);
        return;
      }
      break;
    }
    case MsgType::kShutdown: {
      int64_t grace_ms = 0;
      if (r.I64(&grace_ms) && r.AtEnd()) {
        BeginFinal(milliseconds(std::clamp<int64_t>(grace_ms, 0, kMaxGrace.count())), req);
        return;
      }
      break;
    }
    default:
      break;
  }
  Complain("malformed request from berth; shutting down");
  LoseParent("protocol error");
}

void Supervisor::HandleSpawn(uint64_t req, std::vector<LaunchSpec> specs) {
  if (final_started_) return ReplySpawned(req, {}, BackendError("the supervisor is shutting down"));
  // Nothing starts unless every spec is valid and every id free.
  std::set<std::string> batch;
  for (const LaunchSpec& spec : specs) {
    Status valid = spec.Validate();
    if (!valid.ok()) return ReplySpawned(req, {}, valid);
    if (workers_.count(spec.id)) {
      return ReplySpawned(req, {}, InvalidSpec("worker id '" + spec.id + "' is already in use"));
    }
    if (!batch.insert(spec.id).second) {
      return ReplySpawned(req, {},
                          InvalidSpec("worker id '" + spec.id + "' appears twice in the batch"));
    }
  }
  const size_t n = specs.size();
  std::vector<SpawnJob> jobs(n);
  std::vector<std::string> markers(n);
  for (size_t i = 0; i < n; ++i) {
    markers[i] = MarkerValue(token_, specs[i].id);
    jobs[i].who = "worker '" + specs[i].id + "'";
    jobs[i].plan = MakeExecPlan(specs[i], markers[i]);
  }
  std::vector<std::unique_ptr<WorkerOutput>> outputs(n);
  SpawnOptions so;
  so.timeout = opts_.spawn_timeout;
  so.window = kSpawnWindow;
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    // Up to 3 descriptors per worker (log, merged log, pipe) stay open.
    const int64_t spare =
        static_cast<int64_t>(nofile.rlim_cur) - 3 * static_cast<int64_t>(workers_.size() + n) - 64;
    so.window = static_cast<size_t>(std::clamp<int64_t>(spare, 8, kSpawnWindow));
  }
  so.child_nofile = child_nofile_ ? &*child_nofile_ : nullptr;
  // Keep copying the output of running workers, and of the batch's own as
  // they start, while the batch starts.
  std::vector<WorkerOutput*> watched;
  watched.reserve(workers_.size() + n);  // no allocation between forks
  so.watch = [&](std::vector<pollfd>* fds) {
    watched.clear();
    auto add = [&](WorkerOutput* out) {
      if (out == nullptr || out->pipe_fd() < 0) return;
      watched.push_back(out);
      fds->push_back({out->pipe_fd(), POLLIN, 0});
    };
    for (auto& [id, w] : workers_) add(w.output.get());
    for (auto& out : outputs) add(out.get());
  };
  so.ready = [&](size_t k) { watched[k]->Drain(kReadChunksPerTurn); };
  std::vector<SpawnOutcome> outcomes = ForkExecMany(
      jobs,
      [&](size_t i) -> Result<int> {
        Result<std::unique_ptr<WorkerOutput>> out = WorkerOutput::Open(specs[i], jobs[i].who);
        if (!out) return out.error();
        outputs[i] = std::move(*out);
        return outputs[i]->child_fd();
      },
      [&](size_t i) {
        if (outputs[i]) outputs[i]->ChildStarted();
      },
      so);

  // The first failure in spec order is the answer; the workers that did
  // start are undone before it is given.
  std::optional<Status> error;
  std::vector<std::string> started;
  std::vector<int32_t> pids;
  for (size_t i = 0; i < n; ++i) {
    const SpawnOutcome& o = outcomes[i];
    if (!o.status.ok() && !error) error = o.status;
    if (o.pid <= 0) continue;
    Worker w;
    w.id = specs[i].id;
    w.pid = o.pid;
    w.marker = markers[i];
    w.output = std::move(outputs[i]);
    by_pid_[w.pid] = w.id;
    started.push_back(w.id);
    pids.push_back(o.pid);
    workers_.emplace(w.id, std::move(w));
  }
  if (!error) return ReplySpawned(req, pids, Status::Ok());
  if (n > 1) {
    *error = Status(error->code(), error->message() + " (the batch of " + std::to_string(n) +
                                       " workers was rolled back: none of them runs)");
  }
  if (started.empty()) return ReplySpawned(req, {}, *error);
  for (const std::string& id : started) workers_.at(id).rolling_back = true;
  Teardown td;
  td.req = req;
  td.rollback = true;
  td.rollback_error = *error;
  td.ids = std::move(started);
  StartTeardown(std::move(td), milliseconds(0));  // SIGKILL at once
}

void Supervisor::HandleTerminate(uint64_t req, bool all, std::vector<std::string> ids,
                                 int64_t grace_ms) {
  if (!all) {
    for (const std::string& id : ids) {
      if (!workers_.count(id)) return Reply(req, 0, NotFound("no worker '" + id + "'"));
    }
  }
  milliseconds grace(std::clamp<int64_t>(grace_ms, 0, kMaxGrace.count()));
  Teardown td;
  td.req = req;
  td.all = all;
  td.ids = std::move(ids);
  StartTeardown(std::move(td), grace);
}

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

bool Supervisor::Reap() {
  bool any = false;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) {  // 0: nothing exited; ECHILD: no children
      no_children_ = pid < 0 && errno == ECHILD;
      return any;
    }
    any = true;
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) continue;  // an adopted orphan
    Worker& w = workers_.at(it->second);
    by_pid_.erase(it);
    // What the worker wrote before it died is in the pipe: log it before the
    // event (descendants holding the pipe may write more later).
    w.output->Drain(1024);
    w.exited = true;
    if (!w.rolling_back) Send(WireWriter(MsgType::kExit).Str(w.id).I32(pid).I32(status).Finish());
  }
}

bool Supervisor::WorkersExited(const Teardown& td) const {
  if (td.all) return by_pid_.empty();
  for (const std::string& id : td.ids) {
    if (!workers_.at(id).exited) return false;
  }
  return true;
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
    if (by_pid_.count(p.pid)) {
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

void Supervisor::Reply(uint64_t req, int32_t value, const Status& status) {
  Send(WireWriter(MsgType::kReply)
           .U64(req)
           .I32(value)
           .U8(static_cast<uint8_t>(status.code()))
           .Str(status.message())
           .Finish());
}

void Supervisor::ReplySpawned(uint64_t req, const std::vector<int32_t>& pids,
                              const Status& status) {
  Send(WireWriter(MsgType::kSpawned)
           .U64(req)
           .U8(static_cast<uint8_t>(status.code()))
           .Str(status.message())
           .I32s(pids)
           .Finish());
}

void Supervisor::Send(std::string frame) {
  if (sock_ < 0) return;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  out_ += frame;  // sent at the end of the loop turn
}

void Supervisor::FlushOut() {
  while (sock_ >= 0 && out_pos_ < out_.size()) {
    ssize_t n =
        send(sock_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // poll() tells us when there is room
    } else {
      LoseParent("send failed");
    }
  }
}

void Supervisor::Exit() {
  // Deliver the last reply (berth waits for it), bounded.
  auto deadline = Clock::now() + milliseconds(1000);
  while (sock_ >= 0 && out_pos_ < out_.size() && Clock::now() < deadline) {
    pollfd p{sock_, POLLOUT, 0};
    if (poll(&p, 1, 50) > 0) FlushOut();
  }
  for (auto& [id, w] : workers_) {
    w.output->Drain(64);
    w.output->Finish();
  }
  // Nothing of ours runs any more; collect the last zombies, bounded.
  deadline = Clock::now() + opts_.kill_timeout;
  for (;;) {
    pid_t pid = waitpid(-1, nullptr, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0 || Clock::now() >= deadline) break;  // ECHILD: done
    usleep(5000);
  }
  _exit(exit_code_);
}

}  // namespace

void RunSupervisorProcess(int sock, const SupervisorOptions& options, const std::string& token,
                          pid_t parent) {
  // Our own process group: a kill of berth's group (Ctrl-C, kill -9 -PGID)
  // must leave us alive to clean up after berth.
  setpgid(0, 0);
  prctl(PR_SET_NAME, "berth-superv", 0, 0, 0);

  // Descriptors: the socket on 3, /dev/null on 0 and 1 (do not hold berth's
  // stdout pipe open), stderr kept for complaints, everything else closed
  // (berth's files, other supervisors' sockets).
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
  if (s < 0 || devnull < 0) _exit(2);
  dup2(devnull, 0);
  dup2(devnull, 1);
  if (fcntl(2, F_GETFD) < 0) dup2(devnull, 2);
  if (dup3(s, 3, O_CLOEXEC) < 0) _exit(2);
  sock = 3;
  if (close_range(4, ~0U, 0) != 0) {
    for (int fd = 4; fd < 65536; ++fd) close(fd);
  }

  // Signals: defaults (berth's handlers and ignores are not ours; an ignored
  // SIGCHLD would even lose exit statuses), except fault signals that a
  // sanitizer may handle; terminal signals ignored (berth decides); SIGCHLD
  // and SIGTERM read through a signalfd.
  struct sigaction act {};
  act.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    switch (sig) {
      case SIGKILL:
      case SIGSTOP:
      case SIGSEGV:
      case SIGBUS:
      case SIGFPE:
      case SIGILL:
      case SIGABRT:
      case SIGTRAP:
      case SIGSYS:
        continue;
      default:
        sigaction(sig, &act, nullptr);
    }
  }
  act.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU}) {
    sigaction(sig, &act, nullptr);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_SETMASK, &set, nullptr);
  int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

  Status ready;
  if (sigfd < 0) {
    ready = BackendError("signalfd: " + ErrnoText(errno));
  } else if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    ready = BackendError("prctl(PR_SET_CHILD_SUBREAPER): " + ErrnoText(errno));
  }
  std::string hello = WireWriter(MsgType::kHello)
                          .I32(getpid())
                          .U8(static_cast<uint8_t>(ready.code()))
                          .Str(ready.message())
                          .Finish();
  (void)common::WriteAll(sock, hello,
                         "berth's socket");  // blocking socket, empty buffer: goes out whole
  if (!ready.ok()) _exit(2);
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  // Room for the descriptors of many workers (log, merged log, pipe) and
  // their exec-status pipes while a batch starts; workers get berth's limit
  // back before exec.
  std::optional<struct rlimit> child_nofile;
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    struct rlimit raised = nofile;
    raised.rlim_cur = nofile.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) child_nofile = nofile;
  }
  // A berth that died before this point: the loop sees EOF or re-parenting.
  Supervisor(sock, sigfd, options, token, parent, child_nofile).Run();
}

}  // namespace berth::runtime::local
