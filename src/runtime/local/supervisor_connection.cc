// ProcessSupervisor::Impl: berth's end of the supervisor's socket (frames, calls, its loss).

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>  // sigabbrev_np

#include "runtime/local/cgroup.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/supervisor_impl.h"
#include "runtime/local/wire.h"

namespace berth {
namespace runtime::local {

int MsLeft(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 60'000)) + 1;
}

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

ProcessSupervisor::Impl::~Impl() {
  if (fd >= 0) close(fd);
  if (wake_read >= 0) close(wake_read);
  if (wake_write >= 0) close(wake_write);
}

Status ProcessSupervisor::Impl::Gone() const {
  if (shut_down || shutting_down) return BackendError("the process supervisor was shut down");
  return BackendError("the process supervisor is gone: " + lost);
}

void ProcessSupervisor::Impl::ReadAvailable() {
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

void ProcessSupervisor::Impl::Pump(SteadyClock::time_point deadline) {
  if (fd < 0 || eof) return;
  pollfd p{fd, POLLIN, 0};
  int r = poll(&p, 1, MsLeft(deadline));
  if (r > 0) ReadAvailable();
}

bool ProcessSupervisor::Impl::PumpOrWake(SteadyClock::time_point deadline) {
  if (fd < 0 || eof) return false;
  pollfd p[2] = {{fd, POLLIN, 0}, {wake_read, POLLIN, 0}};
  const int r = poll(p, wake_read >= 0 ? 2 : 1, MsLeft(deadline));
  if (r <= 0) return false;
  if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadAvailable();
  if (wake_read < 0 || (p[1].revents & POLLIN) == 0) return false;
  char buf[64];
  while (read(wake_read, buf, sizeof buf) > 0) {
  }
  return true;
}

bool ProcessSupervisor::Impl::Dispatch(const std::string& body) {
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
    int32_t pid;
    int32_t status;
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

void ProcessSupervisor::Impl::OnProtocolError() {
  // Cannot trust the stream any more: stop the supervisor (its EOF
  // handling would do, but we want it gone now) and clean up after it.
  kill(pid, SIGKILL);
  OnEof("protocol error on its connection");
}

void ProcessSupervisor::Impl::OnEof(const std::string& why) {
  eof = true;
  if (shutting_down) return;
  // The supervisor died on its own (killed from outside, crashed). Its
  // workers die with it (PDEATHSIG); kill whatever else carries our marker.
  ReapSupervisor(milliseconds(200));
  lost = "supervisor process " + std::to_string(pid) + " " + (end.empty() ? why : end);
  KillMarked();
  (void)EndCgroup();
}

void ProcessSupervisor::Impl::KillMarked() const {
  const std::string prefix = token + "/";
  auto deadline = SteadyClock::now() + opts.kill_timeout;
  while (SteadyClock::now() < deadline) {
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

Status ProcessSupervisor::Impl::EndCgroup() {
  if (cgroup.empty() || cgroup_ended) return Status::Ok();
  cgroup_ended = true;
  // The supervisor left its cgroup and removed it on its way out; only what
  // escaped its teardown (or a supervisor killed before it could) is here.
  Result<int> killed = runtime::local::KillCgroup(cgroup, opts.kill_timeout);
  if (killed && *killed == 0) return Status::Ok();
  const std::string what = killed ? "killed " + std::to_string(*killed) +
                                        " process(es) left in cgroup " + cgroup +
                                        " after the process supervisor exited"
                                  : killed.error().message();
  std::fprintf(stderr, "berth: %s\n", what.c_str());
  return BackendError(what);
}

void ProcessSupervisor::Impl::ReapSupervisor(milliseconds wait) {
  auto deadline = SteadyClock::now() + wait;
  while (!reaped) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r == pid || r < 0) {  // r < 0: ECHILD, SIGCHLD ignored or reaped elsewhere
      reaped = true;
      if (r == pid) end = runtime::local::MakeExitEvent("", pid, status).description;
      break;
    }
    if (SteadyClock::now() >= deadline) break;
    usleep(2'000);
  }
}

Status ProcessSupervisor::Impl::SendFrame(const std::string& frame,
                                          SteadyClock::time_point deadline) {
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
      if (SteadyClock::now() >= deadline) {
        return BackendError("the process supervisor did not accept a request in time");
      }
      // Read while waiting: the supervisor may itself wait for room to send.
      pollfd p{fd, POLLIN | POLLOUT, 0};
      if (poll(&p, 1, MsLeft(deadline)) > 0 && ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0)) {
        ReadAvailable();
      }
      continue;
    }
    OnEof("send: " + ErrnoText(errno));
    return Gone();
  }
  return Status::Ok();
}

Result<ProcessSupervisor::Impl::Reply> ProcessSupervisor::Impl::Call(const std::string& frame,
                                                                     uint64_t req,
                                                                     milliseconds timeout) {
  if (eof || fd < 0) return Gone();
  auto deadline = SteadyClock::now() + timeout;
  awaiting = req;
  reply.reset();
  BERTH_RETURN_IF_ERROR(SendFrame(frame, deadline));
  while (!reply && !eof && SteadyClock::now() < deadline) Pump(deadline);
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

Status ProcessSupervisor::Impl::DoShutdown(milliseconds grace) {
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
    auto deadline = SteadyClock::now() + milliseconds(2000);
    while (!eof && fd >= 0 && SteadyClock::now() < deadline) Pump(deadline);
    ReapSupervisor(milliseconds(1000));
    if (!reaped) {
      kill(pid, SIGKILL);
      ReapSupervisor(milliseconds(1000));
      KillMarked();
      if (result.ok()) result = BackendError("the process supervisor did not exit; killed it");
    }
  }
  if (Status c = EndCgroup(); !c.ok() && result.ok()) result = c;
  shut_down = true;
  shutdown_status = result;
  if (fd >= 0) close(fd);
  fd = -1;
  return result;
}

}  // namespace berth
