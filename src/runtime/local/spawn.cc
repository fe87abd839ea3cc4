#include "runtime/local/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/local/proc_scan.h"

namespace berth::runtime::local {
namespace {

enum class Step : int { kSetpgid = 1, kDeathSignal, kParentGone, kRedirect, kChdir, kExec };

const char* StepName(Step s) {
  switch (s) {
    case Step::kSetpgid:
      return "setpgid";
    case Step::kDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case Step::kParentGone:
      return "start (the supervisor went away)";
    case Step::kRedirect:
      return "redirect stdin/stdout/stderr";
    case Step::kChdir:
      return "chdir";
    case Step::kExec:
      return "exec";
  }
  return "?";
}

struct ChildError {
  int step;
  int err;
};

// In the child: report why we are not going to exec, and leave.
[[noreturn]] void ChildFail(int fd, Step step, int err) {
  ChildError e{static_cast<int>(step), err};
  ssize_t ignored = write(fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

std::vector<char*> CArray(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

ExecPlan MakeExecPlan(const LaunchSpec& spec, const std::string& marker) {
  ExecPlan plan;
  plan.program = spec.argv[0];
  plan.argv = spec.argv;
  plan.cwd = spec.cwd;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& [k, v] : spec.env) {
    plan.envp.push_back(k + "=" + v);
    if (k == "PATH") path = v;
  }
  plan.envp.push_back(std::string(kSupervisorTokenVar) + "=" + marker);
  if (plan.program.find('/') != std::string::npos) {
    plan.candidates.push_back(plan.program);
  } else {
    // Like execvp, but with the child's PATH: an empty entry means the
    // working directory.
    plan.search_path = path;
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      plan.candidates.push_back(dir.empty() ? plan.program : dir + "/" + plan.program);
      start = end + 1;
    }
  }
  return plan;
}

Result<pid_t> ForkExec(const ExecPlan& plan, int out_fd, const std::string& who,
                       std::chrono::milliseconds timeout) {
  std::vector<char*> argv = CArray(plan.argv);
  std::vector<char*> envp = CArray(plan.envp);
  std::vector<const char*> candidates;
  for (const std::string& c : plan.candidates) candidates.push_back(c.c_str());
  const char* cwd = plan.cwd.empty() ? nullptr : plan.cwd.c_str();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigset_t empty;
  sigemptyset(&empty);
  const pid_t supervisor = getpid();

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return BackendError(who + ": cannot open /dev/null: " + ErrnoText(errno));
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close(devnull);
    return BackendError(who + ": pipe2: " + ErrnoText(err));
  }
  const int out = out_fd >= 0 ? out_fd : devnull;

  pid_t pid = fork();
  if (pid == 0) {
    // Child: system calls only, on data prepared above.
    const int report = status_pipe[1];
    if (setpgid(0, 0) != 0) ChildFail(report, Step::kSetpgid, errno);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(report, Step::kDeathSignal, errno);
    // The supervisor may have died before prctl took effect.
    if (getppid() != supervisor) ChildFail(report, Step::kParentGone, ESRCH);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine
    }
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
      ChildFail(report, Step::kRedirect, errno);
    }
    if (cwd != nullptr && chdir(cwd) != 0) ChildFail(report, Step::kChdir, errno);
    // Like execvp: remember EACCES, skip entries that do not hold the program,
    // stop at any other error.
    int err = ENOENT;
    bool eacces = false;
    for (const char* c : candidates) {
      execve(c, argv.data(), envp.data());
      err = errno;
      if (err == EACCES) {
        eacces = true;
      } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                 err != ETIMEDOUT) {
        break;
      }
    }
    if (eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
    ChildFail(report, Step::kExec, err);
  }
  int fork_err = errno;
  close(status_pipe[1]);
  close(devnull);
  if (pid < 0) {
    close(status_pipe[0]);
    return BackendError(who + ": fork: " + ErrnoText(fork_err));
  }

  // EOF on the pipe: exec succeeded (CLOEXEC closed it). A record: it failed.
  ChildError e{};
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (got < sizeof e) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{status_pipe[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    ssize_t n = read(status_pipe[0], reinterpret_cast<char*>(&e) + got, sizeof e - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(status_pipe[0]);
  if (timed_out) {
    // The supervisor's reaper collects it.
    kill(pid, SIGKILL);
    return BackendError(who + ": '" + plan.program + "' did not start within " +
                        std::to_string(timeout.count()) + " ms (killed)");
  }
  if (got == 0) return pid;
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (got != sizeof e) return BackendError(who + ": child failed before exec (short report)");
  Step step = static_cast<Step>(e.step);
  if (step == Step::kExec) {
    std::string msg = who + ": cannot execute '" + plan.program + "': " + ErrnoText(e.err);
    if (!plan.search_path.empty() && e.err == ENOENT) {
      msg = who + ": cannot execute '" + plan.program + "': not found in PATH=" + plan.search_path +
            ": " + ErrnoText(e.err);
    }
    return BackendError(msg);
  }
  if (step == Step::kChdir) {
    return BackendError(who + ": cannot chdir to '" + plan.cwd + "': " + ErrnoText(e.err));
  }
  return BackendError(who + ": " + StepName(step) + " failed: " + ErrnoText(e.err));
}

}  // namespace berth::runtime::local
