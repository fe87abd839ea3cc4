// ProcessSupervisor, berth's end: forks the supervisor process
// (supervisor_process.cc) and talks to it over a socketpair.

#include "runtime/local/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>  // sigabbrev_np
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "runtime/local/proc_scan.h"
#include "runtime/local/wire.h"

namespace berth {

using runtime::local::ErrnoText;
using runtime::local::FrameBuffer;
using runtime::local::MsgType;
using runtime::local::WireReader;
using runtime::local::WireWriter;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Slack on top of the supervisor's own bounds before berth stops waiting.
constexpr milliseconds kReplySlack{3000};

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 60'000)) + 1;
}

Result<std::string> RandomToken() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return BackendError("getrandom: " + ErrnoText(errno));
    got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::string> Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char buf[4096];
  if (getcwd(buf, sizeof buf) == nullptr) return BackendError("getcwd: " + ErrnoText(errno));
  std::string cwd(buf);
  if (path.empty() || path == ".") return cwd;
  return cwd + "/" + path;
}

}  // namespace

namespace runtime::local {

ExitEvent MakeExitEvent(const std::string& id, pid_t pid, int status) {
  ExitEvent e;
  e.id = id;
  e.pid = pid;
  if (WIFEXITED(status)) {
    e.exit_code = WEXITSTATUS(status);
    e.description = "exited with code " + std::to_string(e.exit_code);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(e.signal);
    e.description = "killed by signal " + std::to_string(e.signal);
    if (abbrev != nullptr) e.description += std::string(" (SIG") + abbrev + ")";
    if (WCOREDUMP(status)) e.description += ", core dumped";
  } else {
    e.description = "ended with wait status " + std::to_string(status);
  }
  return e;
}

}  // namespace runtime::local

struct ProcessSupervisor::Impl {
  struct Reply {
    int32_t value = 0;
    std::vector<int32_t> values;  // kSpawned: the pids
    Status status;
  };
  struct WorkerState {
    int pid = -1;
    bool alive = true;
  };

  SupervisorOptions opts;
  pid_t pid = -1;
  std::string token;

  std::mutex mu;
  int fd = -1;
  FrameBuffer in;
  std::deque<ExitEvent> exits;
  std::map<std::string, WorkerState> workers;
  uint64_t next_req = 1;
  uint64_t awaiting = 0;
  std::optional<Reply> reply;
  bool eof = false;            // the supervisor closed the connection
  bool shutting_down = false;  // EOF is expected
  bool shut_down = false;
  bool reaped = false;
  std::string end;   // once reaped, how it ended: "killed by signal 9 (SIGKILL)"
  std::string lost;  // why the supervisor is gone, when it went away on its own
  Status shutdown_status;

  ~Impl() {
    if (fd >= 0) close(fd);
  }

  Status Gone() const {
    if (shut_down || shutting_down) return BackendError("the process supervisor was shut down");
    return BackendError("the process supervisor is gone: " + lost);
  }

  // Reads whatever the socket holds and handles the frames.
  void ReadAvailable() {
    char buf[64 * 1024];
    for (;;) {
      if (fd < 0 || eof) return;
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in.Append(std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      OnEof(n == 0 ? "it closed the connection" : "recv: " + ErrnoText(errno));
      break;
    }
    for (;;) {
      bool bad = false;
      std::optional<std::string> body = in.Next(&bad);
      if (bad) return OnProtocolError();
      if (!body) return;
      if (!Dispatch(*body)) return OnProtocolError();
    }
  }

  // Waits until the socket is readable or `deadline`, then reads.
  void Pump(Clock::time_point deadline) {
    if (fd < 0 || eof) return;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, MsLeft(deadline));
    if (r > 0) ReadAvailable();
  }

  bool Dispatch(const std::string& body) {
    WireReader r(body);
    MsgType type;
    if (!r.Type(&type)) return false;
    if (type == MsgType::kReply) {
      uint64_t req;
      int32_t value;
      uint8_t code;
      std::string msg;
      if (!r.U64(&req) || !r.I32(&value) || !r.U8(&code) || !r.Str(&msg) || !r.AtEnd()) {
        return false;
      }
      if (code > static_cast<uint8_t>(ErrorCode::kInternal)) return false;
      if (req == awaiting) {
        Reply rep;
        rep.value = value;
        if (code != 0) rep.status = Status(static_cast<ErrorCode>(code), std::move(msg));
        reply = std::move(rep);
      }
      return true;  // a late answer to a call that timed out is dropped
    }
    if (type == MsgType::kSpawned) {
      uint64_t req;
      uint8_t code;
      std::string msg;
      std::vector<int32_t> pids;
      if (!r.U64(&req) || !r.U8(&code) || !r.Str(&msg) || !r.I32s(&pids) || !r.AtEnd()) {
        return false;
      }
      if (code > static_cast<uint8_t>(ErrorCode::kInternal)) return false;
      if (req == awaiting) {
        Reply rep;
        rep.values = std::move(pids);
        if (code != 0) rep.status = Status(static_cast<ErrorCode>(code), std::move(msg));
        reply = std::move(rep);
      }
      return true;
    }
    if (type == MsgType::kExit) {
      std::string id;
      int32_t pid, status;
      if (!r.Str(&id) || !r.I32(&pid) || !r.I32(&status) || !r.AtEnd()) return false;
      ExitEvent e = runtime::local::MakeExitEvent(id, pid, status);
      WorkerState& w = workers[id];
      w.pid = pid;
      w.alive = false;
      exits.push_back(std::move(e));
      return true;
    }
    return false;
  }

  void OnProtocolError() {
    // Cannot trust the stream any more: stop the supervisor (its EOF
    // handling would do, but we want it gone now) and clean up after it.
    kill(pid, SIGKILL);
    OnEof("protocol error on its connection");
  }

  void OnEof(const std::string& why) {
    eof = true;
    if (shutting_down) return;
    // The supervisor died on its own (killed from outside, crashed). Its
    // workers die with it (PDEATHSIG); kill whatever else carries our marker.
    ReapSupervisor(milliseconds(200));
    lost = "supervisor process " + std::to_string(pid) + " " + (end.empty() ? why : end);
    KillMarked();
  }

  void KillMarked() {
    const std::string prefix = token + "/";
    auto deadline = Clock::now() + opts.kill_timeout;
    while (Clock::now() < deadline) {
      int found = 0;
      for (const runtime::local::ProcInfo& p : runtime::local::ListProcesses()) {
        if (p.zombie() || p.pid == getpid()) continue;
        auto m = runtime::local::ReadEnvVar(p.pid, kSupervisorTokenVar);
        if (m && m->starts_with(prefix)) {
          ++found;
          runtime::local::SignalProcess(p, SIGKILL);
        }
      }
      if (found == 0) return;
      usleep(10'000);
    }
  }

  // Waits up to `wait` for the supervisor to be reaped.
  void ReapSupervisor(milliseconds wait) {
    auto deadline = Clock::now() + wait;
    while (!reaped) {
      int status;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r < 0 && errno == EINTR) continue;
      if (r == pid || r < 0) {  // r < 0: ECHILD, SIGCHLD ignored or reaped elsewhere
        reaped = true;
        if (r == pid) end = runtime::local::MakeExitEvent("", pid, status).description;
        break;
      }
      if (Clock::now() >= deadline) break;
      usleep(2'000);
    }
  }

  Status SendFrame(const std::string& frame, Clock::time_point deadline) {
    size_t pos = 0;
    while (pos < frame.size()) {
      if (eof || fd < 0) return Gone();
      ssize_t n = send(fd, frame.data() + pos, frame.size() - pos, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        pos += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (Clock::now() >= deadline) {
          return BackendError("the process supervisor did not accept a request in time");
        }
        // Read while waiting: the supervisor may itself wait for room to send.
        pollfd p{fd, POLLIN | POLLOUT, 0};
        if (poll(&p, 1, MsLeft(deadline)) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
          ReadAvailable();
        }
        continue;
      }
      OnEof("send: " + ErrnoText(errno));
      return Gone();
    }
    return Status::Ok();
  }

  Result<Reply> Call(const std::string& frame, uint64_t req, milliseconds timeout) {
    if (eof || fd < 0) return Gone();
    auto deadline = Clock::now() + timeout;
    awaiting = req;
    reply.reset();
    BERTH_RETURN_IF_ERROR(SendFrame(frame, deadline));
    while (!reply && !eof && Clock::now() < deadline) Pump(deadline);
    awaiting = 0;
    if (reply) {
      Reply out = std::move(*reply);
      reply.reset();
      return out;
    }
    if (eof) return Gone();
    return BackendError("the process supervisor did not answer within " +
                        std::to_string(timeout.count()) + " ms");
  }

  Status DoShutdown(milliseconds grace) {
    if (shut_down) return shutdown_status;
    Status result;
    if (eof) {
      result = Gone();
    } else {
      uint64_t req = next_req++;
      std::string frame = WireWriter(MsgType::kShutdown).U64(req).I64(grace.count()).Finish();
      shutting_down = true;
      Result<Reply> r = Call(frame, req, grace + opts.kill_timeout + kReplySlack);
      if (!r) {
        result = r.error();
      } else {
        result = r->status;
      }
      // The supervisor exits right after its reply: wait for its EOF, then
      // reap it. If it hangs, kill it and clean up after it.
      auto deadline = Clock::now() + milliseconds(2000);
      while (!eof && fd >= 0 && Clock::now() < deadline) Pump(deadline);
      ReapSupervisor(milliseconds(1000));
      if (!reaped) {
        kill(pid, SIGKILL);
        ReapSupervisor(milliseconds(1000));
        KillMarked();
        if (result.ok()) result = BackendError("the process supervisor did not exit; killed it");
      }
    }
    shut_down = true;
    shutdown_status = result;
    if (fd >= 0) close(fd);
    fd = -1;
    return result;
  }
};

ProcessSupervisor::ProcessSupervisor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessSupervisor::~ProcessSupervisor() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  (void)impl_->DoShutdown(impl_->opts.grace);
}

Result<std::unique_ptr<ProcessSupervisor>> ProcessSupervisor::Start(
    const SupervisorOptions& options) {
  BERTH_RETURN_IF_ERROR(options.Validate());
  const bool exec_mode = !options.exec_path.empty();
  if (exec_mode && access(options.exec_path.c_str(), X_OK) != 0) {
    return BackendError("the process supervisor program " + options.exec_path +
                        " cannot be executed: " + ErrnoText(errno) +
                        "; build the berth-supervisor target, or give its path");
  }
  int threads = exec_mode ? 1 : runtime::local::CountThreads();
  if (threads != 1) {
    return Internal("ProcessSupervisor::Start needs a single-threaded process (found " +
                    std::to_string(threads) +
                    " threads): the supervisor is a fork that keeps running; start it "
                    "before any other thread");
  }
  BERTH_ASSIGN_OR_RETURN(std::string token, RandomToken());
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return BackendError("socketpair: " + ErrnoText(errno));
  }
  const pid_t parent = getpid();
  // Exec mode: everything the child needs is built before the fork; after
  // it, in a process that may have had threads, only async-signal-safe calls.
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;
  if (exec_mode) {
    args = {options.exec_path, "--parent=" + std::to_string(parent),
            "--grace-ms=" + std::to_string(options.grace.count()),
            "--kill-timeout-ms=" + std::to_string(options.kill_timeout.count()),
            "--spawn-timeout-ms=" + std::to_string(options.spawn_timeout.count())};
    for (char** e = environ; *e != nullptr; ++e) {
      if (strncmp(*e, runtime::local::kExecTokenEnv, strlen(runtime::local::kExecTokenEnv)) != 0) {
        env.emplace_back(*e);
      }
    }
    env.push_back(std::string(runtime::local::kExecTokenEnv) + "=" + token);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (exec_mode) {
      // The socket on its agreed descriptor, inherited by the exec.
      if (sv[1] == runtime::local::kExecSocketFd) {
        fcntl(sv[1], F_SETFD, 0);
      } else if (dup2(sv[1], runtime::local::kExecSocketFd) < 0) {
        _exit(127);
      }
      execve(argv[0], argv.data(), envp.data());
      _exit(127);  // the parent sees EOF before the hello: "it exited"
    }
    close(sv[0]);
    runtime::local::RunSupervisorProcess(sv[1], options, token, parent);
  }
  int fork_err = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return BackendError("fork of the process supervisor: " + ErrnoText(fork_err));
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  impl->pid = pid;
  impl->token = std::move(token);
  impl->fd = sv[0];
  impl->shutting_down = true;  // until ready: an EOF is a failed start, not a loss

  // Hello: the supervisor's pid and whether it could become a subreaper.
  auto fail = [&](const std::string& why) -> Status {
    kill(pid, SIGKILL);
    impl->ReapSupervisor(milliseconds(2000));
    return BackendError("the process supervisor did not start: " + why);
  };
  auto deadline = Clock::now() + options.spawn_timeout;
  std::optional<std::string> body;
  while (!body) {
    bool bad = false;
    body = impl->in.Next(&bad);
    if (body || bad) break;
    if (Clock::now() >= deadline)
      return fail("no answer within " + std::to_string(options.spawn_timeout.count()) + " ms");
    pollfd p{impl->fd, POLLIN, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(impl->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return fail("it exited");
    if (n > 0) impl->in.Append(std::string_view(buf, static_cast<size_t>(n)));
  }
  const std::string none;
  WireReader r(body ? *body : none);  // both lvalues: no temporary for the view to outlive
  MsgType type;
  int32_t hello_pid;
  uint8_t code;
  std::string msg;
  if (!body || !r.Type(&type) || type != MsgType::kHello || !r.I32(&hello_pid) || !r.U8(&code) ||
      !r.Str(&msg) || !r.AtEnd()) {
    return fail("malformed hello");
  }
  if (code != 0) return fail(msg);
  impl->shutting_down = false;
  return std::unique_ptr<ProcessSupervisor>(new ProcessSupervisor(std::move(impl)));
}

Result<int> ProcessSupervisor::Spawn(const LaunchSpec& spec) {
  BERTH_ASSIGN_OR_RETURN(std::vector<int> pids, SpawnMany({spec}));
  return pids.at(0);
}

Result<std::vector<int>> ProcessSupervisor::SpawnMany(const std::vector<LaunchSpec>& specs) {
  std::set<std::string> ids;
  for (const LaunchSpec& spec : specs) {
    BERTH_RETURN_IF_ERROR(spec.Validate());
    if (!ids.insert(spec.id).second) {
      return InvalidSpec("worker id '" + spec.id + "' appears twice in the batch");
    }
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  if (s.shut_down || s.eof) return s.Gone();
  for (const LaunchSpec& spec : specs) {
    if (s.workers.count(spec.id)) {
      return InvalidSpec("worker id '" + spec.id + "' is already in use");
    }
  }
  if (specs.empty()) return std::vector<int>{};
  uint64_t req = s.next_req++;
  WireWriter w(MsgType::kSpawn);
  w.U64(req).U32(static_cast<uint32_t>(specs.size()));
  for (const LaunchSpec& spec : specs) {
    BERTH_ASSIGN_OR_RETURN(std::string cwd, Absolute(spec.cwd));
    std::string log, merged;
    if (!spec.log_path.empty()) {
      BERTH_ASSIGN_OR_RETURN(log, Absolute(spec.log_path));
    }
    if (!spec.merged_log_path.empty()) {
      BERTH_ASSIGN_OR_RETURN(merged, Absolute(spec.merged_log_path));
    }
    w.Str(spec.id).Strs(spec.argv).Pairs(spec.env).Str(cwd).Str(log).Str(merged);
  }
  // Bounds: each child's fork-to-exec (spawn_timeout, windows of children at
  // a time), then undoing a failed batch (kill_timeout).
  const int64_t windows = static_cast<int64_t>((specs.size() + 7) / 8);  // the smallest window
  const milliseconds timeout = s.opts.spawn_timeout * windows + s.opts.kill_timeout + kReplySlack +
                               milliseconds(10) * static_cast<int64_t>(specs.size());
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep, s.Call(w.Finish(), req, timeout));
  if (!rep.status.ok()) return rep.status;
  if (rep.values.size() != specs.size()) {
    return Internal("the process supervisor answered " + std::to_string(rep.values.size()) +
                    " pids for " + std::to_string(specs.size()) + " workers");
  }
  std::vector<int> pids(rep.values.begin(), rep.values.end());
  for (size_t i = 0; i < specs.size(); ++i) {
    // An exit event read in the same batch as the reply already made the entry.
    s.workers.try_emplace(specs[i].id, Impl::WorkerState{pids[i], true});
  }
  return pids;
}

std::vector<ExitEvent> ProcessSupervisor::PollExits() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ReadAvailable();
  std::vector<ExitEvent> out(std::make_move_iterator(impl_->exits.begin()),
                             std::make_move_iterator(impl_->exits.end()));
  impl_->exits.clear();
  return out;
}

Result<std::optional<ExitEvent>> ProcessSupervisor::WaitExit(milliseconds timeout) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    s.ReadAvailable();
    if (!s.exits.empty()) {
      ExitEvent e = std::move(s.exits.front());
      s.exits.pop_front();
      return std::optional<ExitEvent>(std::move(e));
    }
    if (s.eof || s.fd < 0) return s.Gone();
    if (Clock::now() >= deadline) return std::optional<ExitEvent>();
    s.Pump(deadline);
  }
}

Status ProcessSupervisor::Terminate(const std::string& id, milliseconds grace) {
  return TerminateMany({id}, grace);
}

Status ProcessSupervisor::TerminateMany(const std::vector<std::string>& ids, milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  for (const std::string& id : ids) {
    if (!s.workers.count(id)) return NotFound("no worker '" + id + "'");
  }
  if (ids.empty()) return Status::Ok();
  if (s.shut_down || s.eof) return s.Gone();
  grace = std::clamp(grace, milliseconds(0), milliseconds(600'000));
  uint64_t req = s.next_req++;
  std::string frame =
      WireWriter(MsgType::kTerminate).U64(req).U8(0).Strs(ids).I64(grace.count()).Finish();
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep,
                         s.Call(frame, req, grace + s.opts.kill_timeout + kReplySlack));
  return rep.status;
}

Status ProcessSupervisor::TerminateAll(milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  if (s.shut_down || s.eof) return s.Gone();
  grace = std::clamp(grace, milliseconds(0), milliseconds(600'000));
  uint64_t req = s.next_req++;
  std::string frame =
      WireWriter(MsgType::kTerminate).U64(req).U8(1).Strs({}).I64(grace.count()).Finish();
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep,
                         s.Call(frame, req, grace + s.opts.kill_timeout + kReplySlack));
  return rep.status;
}

Status ProcessSupervisor::Shutdown(milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->DoShutdown(std::clamp(grace, milliseconds(0), milliseconds(600'000)));
}

int ProcessSupervisor::pid(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->workers.find(id);
  return it == impl_->workers.end() ? -1 : it->second.pid;
}

bool ProcessSupervisor::alive(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ReadAvailable();
  auto it = impl_->workers.find(id);
  return it != impl_->workers.end() && it->second.alive;
}

int ProcessSupervisor::supervisor_pid() const { return impl_->pid; }

const std::string& ProcessSupervisor::token() const { return impl_->token; }

}  // namespace berth
