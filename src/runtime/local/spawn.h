#pragma once
// Starting one worker process from the supervisor: fork, set the child up,
// exec, and learn whether exec succeeded (a CLOEXEC pipe that carries errno
// back if it did not).

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "berth/process.h"
#include "berth/status.h"

namespace berth::runtime::local {

// Everything the child needs, built before fork so that the child only makes
// system calls (no allocation between fork and exec).
struct ExecPlan {
  std::string program;                  // argv[0] as given, for messages
  std::vector<std::string> candidates;  // paths to try with execve, in order
  std::vector<std::string> argv;
  std::vector<std::string> envp;  // "KEY=VALUE"
  std::string cwd;                // empty: keep the supervisor's
  std::string search_path;        // the PATH searched, for messages ("" if argv[0] has '/')
};

// REQUIRES: spec.Validate().ok(). `marker` is the value of
// BERTH_SUPERVISOR_TOKEN for this worker.
ExecPlan MakeExecPlan(const LaunchSpec& spec, const std::string& marker);

// Forks and execs plan in a child that: gets its own process group; gets
// SIGKILL when the calling process dies (PR_SET_PDEATHSIG); has default signal
// dispositions and an empty signal mask; reads /dev/null; writes stdout and
// stderr to out_fd (or /dev/null if -1); runs in plan.cwd. Returns its pid once
// exec succeeded, or kBackend naming the step and errno that failed.
// REQUIRES: the calling process is single-threaded. `who` starts messages
// ("worker 'w/0'").
Result<pid_t> ForkExec(const ExecPlan& plan, int out_fd, const std::string& who,
                       std::chrono::milliseconds timeout);

}  // namespace berth::runtime::local
