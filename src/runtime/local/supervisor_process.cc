// The forked supervisor process: one thread, one poll() loop over the control
// socket, a signalfd (SIGCHLD, SIGTERM) and the output pipes of workers that
// feed a merged log. Terminations are state machines advanced by the loop, so
// that reaping, log copying and other requests go on while a grace period runs.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
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
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

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
// How often a termination rescans /proc for newcomers and leavers while it
// runs: often at first (most processes go at once on SIGTERM), then less, as a
// scan reads every process's stat. A reaped child triggers a scan at once.
constexpr milliseconds kFastScan{10};
constexpr milliseconds kSlowScan{40};
constexpr milliseconds kFastScanPeriod{200};
// How often processes outside our subtree are checked for our marker (they can
// only exist if something escaped the subreaper, e.g. via another daemon).
constexpr milliseconds kFullScanEvery{500};
// Bounds the work done for one readable pipe per loop turn.
constexpr int kReadChunksPerTurn = 16;
constexpr size_t kSocketChunk = 64 * 1024;

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void Complain(const std::string& what) {
  std::string line = "berth-supervisor[" + std::to_string(getpid()) + "]: " + what + "\n";
  WriteAll(2, line);
}

struct Worker {
  std::string id;
  pid_t pid = -1;  // also its process group
  std::string marker;
  bool exited = false;  // reaped
  std::unique_ptr<WorkerOutput> output;
};

struct Teardown {
  uint64_t req = 0;  // 0: nobody waits for a reply
  bool all = false;
  bool final = false;  // the supervisor exits when it is done
  std::vector<std::string> ids;
  Clock::time_point kill_at;
  Clock::time_point give_up_at;
  Clock::time_point started;
  Clock::time_point next_scan;
  Clock::time_point next_full_scan;
  bool killing = false;
  std::set<std::pair<pid_t, uint64_t>> termed;  // already sent SIGTERM
};

class Supervisor {
 public:
  Supervisor(int sock, int sigfd, const SupervisorOptions& options, std::string token, pid_t parent)
      : sock_(sock), sigfd_(sigfd), opts_(options), token_(std::move(token)), parent_(parent) {}

  [[noreturn]] void Run();

 private:
  void ReadSignals();
  void ReadSocket();
  void HandleFrame(const std::string& body);
  void HandleSpawn(uint64_t req, LaunchSpec spec);
  void HandleTerminate(uint64_t req, bool all, std::vector<std::string> ids, int64_t grace_ms);
  void BeginFinal(milliseconds grace, uint64_t req);
  bool Reap();  // true if it reaped any child
  // Rescans and signals for the terminations that are due (all if `force`).
  void AdvanceTeardowns(bool force);
  std::vector<ProcInfo> Targets(Teardown& td);
  bool WorkersExited(const Teardown& td) const;
  void Finish(const Teardown& td, const Status& status);
  void Reply(uint64_t req, int32_t value, const Status& status);
  void Send(std::string frame);
  void FlushOut();
  void LoseParent(const std::string& why);
  [[noreturn]] void Exit();

  int sock_;
  int sigfd_;
  SupervisorOptions opts_;
  std::string token_;
  pid_t parent_;
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
      auto due = std::chrono::duration_cast<milliseconds>(td.next_scan - Clock::now()).count();
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
      LaunchSpec s;
      if (r.Str(&s.id) && r.Strs(&s.argv) && r.Pairs(&s.env) && r.Str(&s.cwd) &&
          r.Str(&s.log_path) && r.Str(&s.merged_log_path) && r.AtEnd()) {
        HandleSpawn(req, std::move(s));
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

void Supervisor::HandleSpawn(uint64_t req, LaunchSpec spec) {
  if (final_started_) return Reply(req, -1, BackendError("the supervisor is shutting down"));
  Status valid = spec.Validate();
  if (!valid.ok()) return Reply(req, -1, valid);
  if (workers_.count(spec.id)) {
    return Reply(req, -1, InvalidSpec("worker id '" + spec.id + "' is already in use"));
  }
  const std::string who = "worker '" + spec.id + "'";
  Worker w;
  w.id = spec.id;
  w.marker = MarkerValue(token_, spec.id);
  Result<std::unique_ptr<WorkerOutput>> output = WorkerOutput::Open(spec, who);
  if (!output) return Reply(req, -1, output.error());
  w.output = std::move(*output);
  Result<pid_t> pid =
      ForkExec(MakeExecPlan(spec, w.marker), w.output->child_fd(), who, opts_.spawn_timeout);
  w.output->ChildStarted();
  if (!pid) return Reply(req, -1, pid.error());
  w.pid = *pid;
  by_pid_[w.pid] = spec.id;
  workers_.emplace(spec.id, std::move(w));
  Reply(req, *pid, Status::Ok());
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
  auto now = Clock::now();
  td.kill_at = now + grace;
  td.give_up_at = td.kill_at + opts_.kill_timeout;
  td.started = td.next_scan = td.next_full_scan = now;
  teardowns_.push_back(std::move(td));
  AdvanceTeardowns(true);  // signal at once
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
  auto now = Clock::now();
  td.kill_at = now + grace;
  td.give_up_at = td.kill_at + opts_.kill_timeout;
  td.started = td.next_scan = td.next_full_scan = now;
  teardowns_.push_back(std::move(td));
  AdvanceTeardowns(true);
}

bool Supervisor::Reap() {
  bool any = false;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return any;  // 0: nothing exited; ECHILD: no children
    any = true;
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) continue;  // an adopted orphan
    Worker& w = workers_.at(it->second);
    by_pid_.erase(it);
    // What the worker wrote before it died is in the pipe: log it before the
    // event (descendants holding the pipe may write more later).
    w.output->Drain(1024);
    w.exited = true;
    Send(WireWriter(MsgType::kExit).Str(w.id).I32(pid).I32(status).Finish());
  }
}

bool Supervisor::WorkersExited(const Teardown& td) const {
  if (td.all) return by_pid_.empty();
  for (const std::string& id : td.ids) {
    if (!workers_.at(id).exited) return false;
  }
  return true;
}

std::vector<ProcInfo> Supervisor::Targets(Teardown& td) {
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
  const auto now = Clock::now();
  q.full_scan = now >= td.next_full_scan;
  if (q.full_scan) td.next_full_scan = now + kFullScanEvery;
  return SelectTargets(ListProcesses(), q,
                       [](pid_t pid) { return ReadEnvVar(pid, kSupervisorTokenVar); });
}

void Supervisor::AdvanceTeardowns(bool force) {
  for (auto it = teardowns_.begin(); it != teardowns_.end();) {
    Teardown& td = *it;
    if (!force && Clock::now() < td.next_scan) {
      ++it;
      continue;
    }
    const std::vector<ProcInfo> targets = Targets(td);
    const auto now = Clock::now();
    td.next_scan = now + (now - td.started < kFastScanPeriod ? kFastScan : kSlowScan);
    if (!td.killing) td.next_scan = std::min(td.next_scan, td.kill_at);
    if (td.killing) td.next_scan = std::min(td.next_scan, td.give_up_at);
    if (targets.empty() && WorkersExited(td)) {
      Finish(td, Status::Ok());
      it = teardowns_.erase(it);
      continue;
    }
    if (!td.killing && now >= td.kill_at) td.killing = true;
    for (const ProcInfo& p : targets) {
      if (td.killing) {
        SignalProcess(p, SIGKILL);
      } else if (td.termed.insert({p.pid, p.starttime}).second) {
        // SIGCONT so that a stopped process gets to act on SIGTERM.
        if (SignalProcess(p, SIGTERM)) SignalProcess(p, SIGCONT);
      }
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

void Supervisor::Send(std::string frame) {
  if (sock_ < 0) return;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  out_ += frame;
  FlushOut();
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
  WriteAll(sock, hello);  // blocking socket, empty buffer: goes out whole
  if (!ready.ok()) _exit(2);
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  // A berth that died before this point: the loop sees EOF or re-parenting.
  Supervisor(sock, sigfd, options, token, parent).Run();
}

}  // namespace berth::runtime::local
