// ProcessSupervisor::Start: forks (or execs) the supervisor process and waits for its hello.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/random.h"
#include "runtime/local/cgroup.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/supervisor_impl.h"
#include "runtime/local/wire.h"

namespace berth {
namespace {}  // namespace

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
  BERTH_ASSIGN_OR_RETURN(std::string token, common::RandomHex(16));
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return BackendError("socketpair: " + ErrnoText(errno));
  }
  const pid_t parent = getpid();
  // The cgroup exists before the fork, so that the supervisor can be moved
  // into it before it starts anything, and knows it by name.
  std::string cgroup;
  std::string cgroup_unavailable;
  if (options.own_cgroup) {
    Result<std::string> made = runtime::local::CreateRunCgroup(parent);
    if (made) {
      cgroup = std::move(made).value();
    } else {
      cgroup_unavailable = made.error().message();
    }
  }
  // Exec mode: everything the child needs is built before the fork; after
  // it, in a process that may have had threads, only async-signal-safe calls.
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
  if (exec_mode) {
    args = {options.exec_path, "--parent=" + std::to_string(parent),
            "--grace-ms=" + std::to_string(options.grace.count()),
            "--kill-timeout-ms=" + std::to_string(options.kill_timeout.count()),
            "--spawn-timeout-ms=" + std::to_string(options.spawn_timeout.count())};
    if (!cgroup.empty()) args.push_back("--cgroup=" + cgroup);
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
    runtime::local::RunSupervisorProcess(sv[1], options, token, parent, cgroup);
  }
  int fork_err = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    if (!cgroup.empty()) rmdir(cgroup.c_str());
    return BackendError("fork of the process supervisor: " + ErrnoText(fork_err));
  }
  // Into the cgroup before the hello: the supervisor starts nothing before
  // berth's first request, which comes after it. (From here, not from the
  // child, so that a failure has a message.) If it fails, the supervisor
  // runs where berth does, and removes no cgroup at its end (it is not in
  // it).
  if (!cgroup.empty()) {
    if (Status moved = runtime::local::MoveIntoCgroup(cgroup, pid); !moved.ok()) {
      cgroup_unavailable = moved.message();
      rmdir(cgroup.c_str());
      cgroup.clear();
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  impl->pid = pid;
  impl->token = std::move(token);
  impl->cgroup = std::move(cgroup);
  impl->cgroup_unavailable = std::move(cgroup_unavailable);
  impl->fd = sv[0];
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) == 0) {
    impl->wake_read = wake[0];
    impl->wake_write = wake[1];
  }                            // else WaitExit runs its time, as without Wake()
  impl->shutting_down = true;  // until ready: an EOF is a failed start, not a loss

  // Hello: the supervisor's pid and whether it could become a subreaper.
  auto fail = [&](const std::string& why) -> Status {
    kill(pid, SIGKILL);
    impl->ReapSupervisor(milliseconds(2000));
    (void)impl->EndCgroup();
    return BackendError("the process supervisor did not start: " + why);
  };
  auto deadline = SteadyClock::now() + options.spawn_timeout;
  std::optional<std::string> body;
  while (!body) {
    bool bad = false;
    body = impl->in.Next(&bad);
    if (body || bad) break;
    if (SteadyClock::now() >= deadline)
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

}  // namespace berth
