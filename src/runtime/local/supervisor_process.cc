// The supervisor process's start-up and main loop: poll, signals, the socket, reaping, exit.
//
// The forked supervisor process: one thread, one poll() loop over the control
// socket, a signalfd (SIGCHLD, SIGTERM) and the output pipes of workers that
// feed a merged log. Terminations are state machines advanced by the loop, so
// that reaping, log copying and other requests go on while a grace period runs.
// A spawn batch is handled within one turn: its children are forked without
// waiting for each exec, and their exec outcomes collected in one poll loop
// (spawn.cc); a batch that failed is undone by a termination of the workers
// it started, and answered when that is done.

#include "runtime/local/supervisor_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "common/fd_io.h"
#include "runtime/local/cgroup.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/wire.h"

namespace berth::runtime::local {
namespace {

constexpr size_t kSocketChunk = size_t{64} * 1024;

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

void Complain(const std::string& what) {
  std::string line = "berth-supervisor[" + std::to_string(getpid()) + "]: " + what + "\n";
  (void)common::WriteAll(2, line, "stderr");
}

void Supervisor::Run() {
  std::vector<pollfd> fds;
  std::vector<std::string> readers;
  for (;;) {
    fds.clear();
    readers.clear();
    fds.push_back({sigfd_, POLLIN, 0});
    const bool polled_sock = sock_ >= 0;
    if (polled_sock) {
      decltype(pollfd::events) ev = POLLIN;
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
      auto due =
          std::chrono::duration_cast<milliseconds>(td.escalation.NextWake() - SteadyClock::now())
              .count();
      timeout = static_cast<int>(std::clamp<int64_t>(due + 1, 0, timeout));
    }
    int r = poll(fds.data(), fds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      Complain("poll: " + ErrnoText(errno) + "; shutting down");
      LoseParent("poll failed");
      usleep(10'000);  // no busy loop while the teardown runs
    }
    if (r > 0) {
      if (fds[0].revents != 0) ReadSignals();
      for (size_t i = 0; i < readers.size(); ++i) {
        if (fds[first_reader + i].revents == 0) continue;
        auto it = workers_.find(readers[i]);
        if (it != workers_.end()) it->second.output->Drain(kReadChunksPerTurn);
      }
      if (polled_sock && sock_ >= 0 && (fds[1].revents != 0)) {
        if ((fds[1].revents & POLLOUT) != 0) FlushOut();
        if (sock_ >= 0 && ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0)) ReadSocket();
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

void Supervisor::Send(const std::string& frame) {
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
  auto deadline = SteadyClock::now() + milliseconds(1000);
  while (sock_ >= 0 && out_pos_ < out_.size() && SteadyClock::now() < deadline) {
    pollfd p{sock_, POLLOUT, 0};
    if (poll(&p, 1, 50) > 0) FlushOut();
  }
  for (auto& [id, w] : workers_) {
    w.output->Drain(64);
    w.output->Finish();
  }
  // Nothing of ours runs any more; collect the last zombies, bounded.
  deadline = SteadyClock::now() + opts_.kill_timeout;
  for (;;) {
    pid_t pid = waitpid(-1, nullptr, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0 || SteadyClock::now() >= deadline) break;  // ECHILD: done
    usleep(5000);
  }
  // An empty cgroup left behind would outlive a berth killed meanwhile.
  if (!cgroup_.empty()) LeaveAndRemoveCgroup(cgroup_);
  _exit(exit_code_);
}

void RunSupervisorProcess(int sock, const SupervisorOptions& options, const std::string& token,
                          pid_t parent, const std::string& cgroup) {
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
  Supervisor(sock, sigfd, options, token, parent, child_nofile, cgroup).Run();
}

}  // namespace berth::runtime::local
