#include "runtime/local/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigprocmask, sigaction
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/local/proc_scan.h"

namespace berth::runtime::local {
namespace {

enum class Step : int {
  kSetpgid = 1,
  kDeathSignal,
  kParentGone,
  kRedirect,
  kChdir,
  kExec,
  kRlimit,
};

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
    case Step::kRlimit:
      return "setrlimit(RLIMIT_NOFILE)";
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

namespace {

using Clock = std::chrono::steady_clock;

// The child's view of one job: pointers into the job's plan, made before fork.
struct Prepared {
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<const char*> candidates;
  const char* cwd = nullptr;
};

Prepared Prepare(const ExecPlan& plan) {
  Prepared p;
  p.argv = CArray(plan.argv);
  p.envp = CArray(plan.envp);
  for (const std::string& c : plan.candidates) p.candidates.push_back(c.c_str());
  p.cwd = plan.cwd.empty() ? nullptr : plan.cwd.c_str();
  return p;
}

// The child between fork and exec: system calls only, on data prepared
// before the fork.
[[noreturn]] void RunChild(const Prepared& p, int report, int devnull, int out, pid_t supervisor,
                           const struct rlimit* nofile) {
  if (setpgid(0, 0) != 0) ChildFail(report, Step::kSetpgid, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(report, Step::kDeathSignal, errno);
  // The supervisor may have died before prctl took effect.
  if (getppid() != supervisor) ChildFail(report, Step::kParentGone, ESRCH);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
    ChildFail(report, Step::kRedirect, errno);
  }
  if (nofile != nullptr && setrlimit(RLIMIT_NOFILE, nofile) != 0) {
    ChildFail(report, Step::kRlimit, errno);
  }
  if (p.cwd != nullptr && chdir(p.cwd) != 0) ChildFail(report, Step::kChdir, errno);
  // Like execvp: remember EACCES, skip entries that do not hold the program,
  // stop at any other error.
  int err = ENOENT;
  bool eacces = false;
  for (const char* c : p.candidates) {
    execve(c, p.argv.data(), p.envp.data());
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

Status ChildFailure(const SpawnJob& job, const ChildError& e) {
  const ExecPlan& plan = job.plan;
  const std::string& who = job.who;
  Step step = static_cast<Step>(e.step);
  if (step == Step::kExec) {
    if (!plan.search_path.empty() && e.err == ENOENT) {
      return BackendError(who + ": cannot execute '" + plan.program +
                          "': not found in PATH=" + plan.search_path + ": " + ErrnoText(e.err));
    }
    return BackendError(who + ": cannot execute '" + plan.program + "': " + ErrnoText(e.err));
  }
  if (step == Step::kChdir) {
    return BackendError(who + ": cannot chdir to '" + plan.cwd + "': " + ErrnoText(e.err));
  }
  return BackendError(who + ": " + StepName(step) + " failed: " + ErrnoText(e.err));
}

// A forked child whose exec outcome is not known yet.
struct Starting {
  size_t job = 0;
  pid_t pid = -1;
  int fd = -1;  // read end of its status pipe (non-blocking)
  ChildError e{};
  size_t got = 0;
  Clock::time_point deadline;
};

// Functions that only children call are resolved (lazy binding) at their
// first call; call them once here, harmlessly, so that 256 children do not
// each look them up and copy the page that records the result.
void ResolveChildFunctions() {
  static bool done = false;
  if (done) return;
  done = true;
  int saved = errno;
  char* const none[] = {nullptr};
  execve("", none, none);  // ENOENT
  if (chdir(".") != 0) {
  }
  errno = saved;
}

void ReapNow(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::vector<SpawnOutcome> ForkExecMany(const std::vector<SpawnJob>& jobs,
                                       const std::function<Result<int>(size_t)>& open_output,
                                       const std::function<void(size_t)>& forked,
                                       const SpawnOptions& options) {
  std::vector<SpawnOutcome> outcomes(jobs.size());
  if (jobs.empty()) return outcomes;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    outcomes[0].attempted = true;
    outcomes[0].status = BackendError(jobs[0].who + ": cannot open /dev/null: " + ErrnoText(errno));
    return outcomes;
  }
  const pid_t supervisor = getpid();
  const size_t window = std::max<size_t>(1, options.window);
  ResolveChildFunctions();
  // Everything the children read, made before the first fork: after a fork,
  // each page the parent writes is copied, so the loop below allocates as
  // little as it can.
  std::vector<Prepared> prepared;
  prepared.reserve(jobs.size());
  for (const SpawnJob& job : jobs) prepared.push_back(Prepare(job.plan));
  std::vector<Starting> starting;
  starting.reserve(std::min(window, jobs.size()));
  std::vector<pollfd> fds;
  size_t next = 0;
  bool failed = false;
  for (;;) {
    // Fork until the window is full: no waiting for any exec here.
    while (!failed && next < jobs.size() && starting.size() < window) {
      const size_t i = next++;
      const SpawnJob& job = jobs[i];
      SpawnOutcome& o = outcomes[i];
      o.attempted = true;
      Result<int> out_fd = open_output(i);
      if (!out_fd) {
        o.status = out_fd.error();
        failed = true;
        break;
      }
      int status_pipe[2];
      if (pipe2(status_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        o.status = BackendError(job.who + ": pipe2: " + ErrnoText(errno));
        forked(i);
        failed = true;
        break;
      }
      pid_t pid = fork();
      if (pid == 0) {
        RunChild(prepared[i], status_pipe[1], devnull, *out_fd >= 0 ? *out_fd : devnull, supervisor,
                 options.child_nofile);
      }
      const int fork_err = errno;
      close(status_pipe[1]);  // before the next fork: no later child may hold it
      forked(i);
      if (pid < 0) {
        close(status_pipe[0]);
        o.status = BackendError(job.who + ": fork: " + ErrnoText(fork_err));
        failed = true;
        break;
      }
      Starting s;
      s.job = i;
      s.pid = pid;
      s.fd = status_pipe[0];
      s.deadline = Clock::now() + options.timeout;
      starting.push_back(s);
    }
    if (starting.empty()) break;

    // Collect whatever outcomes are there, waiting for at least one (the
    // window is full, or nothing is left to fork).
    fds.clear();
    Clock::time_point earliest = starting.front().deadline;
    for (const Starting& s : starting) {
      fds.push_back({s.fd, POLLIN, 0});
      earliest = std::min(earliest, s.deadline);
    }
    if (options.watch) options.watch(&fds);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(earliest - Clock::now());
    int timeout = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 60'000));
    int r = poll(fds.data(), fds.size(), timeout);
    if (r < 0 && errno != EINTR) usleep(1000);  // ENOMEM: retry, bounded by the deadlines
    if (r > 0 && options.ready) {
      for (size_t k = starting.size(); k < fds.size(); ++k) {
        if (fds[k].revents != 0) options.ready(k - starting.size());
      }
    }
    const auto now = Clock::now();
    size_t kept = 0;
    for (size_t k = 0; k < starting.size(); ++k) {
      Starting& s = starting[k];
      bool eof = false;
      if (r > 0 && fds[k].revents != 0) {
        for (;;) {
          ssize_t n = read(s.fd, reinterpret_cast<char*>(&s.e) + s.got, sizeof s.e - s.got);
          if (n < 0 && errno == EINTR) continue;
          if (n > 0) {
            s.got += static_cast<size_t>(n);
            if (s.got < sizeof s.e) continue;
            eof = true;  // a whole report: it failed, and exits now
          } else if (n == 0) {
            eof = true;  // exec closed the pipe (or the child died before writing)
          }
          break;  // n < 0: EAGAIN, nothing more yet
        }
      }
      SpawnOutcome& o = outcomes[s.job];
      if (eof) {
        close(s.fd);
        if (s.got == 0) {
          o.pid = s.pid;
        } else {
          ReapNow(s.pid);
          o.status =
              s.got == sizeof s.e
                  ? ChildFailure(jobs[s.job], s.e)
                  : BackendError(jobs[s.job].who + ": child failed before exec (short report)");
          failed = true;
        }
        continue;
      }
      if (now >= s.deadline) {
        close(s.fd);
        kill(s.pid, SIGKILL);  // the caller's reaper collects it
        o.status = BackendError(jobs[s.job].who + ": '" + jobs[s.job].plan.program +
                                "' did not start within " +
                                std::to_string(options.timeout.count()) + " ms (killed)");
        failed = true;
        continue;
      }
      starting[kept++] = s;
    }
    starting.resize(kept);
  }
  close(devnull);
  return outcomes;
}

}  // namespace berth::runtime::local
