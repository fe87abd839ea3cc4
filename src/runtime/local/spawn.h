#pragma once
// Starting worker processes from the supervisor: fork, set the child up,
// exec, and learn whether exec succeeded (a CLOEXEC pipe that carries errno
// back if it did not), for many children at once.

#include <poll.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
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

struct SpawnJob {
  ExecPlan plan;
  std::string who;  // starts messages: "worker 'w/0'"
};

// What became of one job.
struct SpawnOutcome {
  bool attempted = false;  // false: not forked, because an earlier job failed
  pid_t pid = -1;          // > 0: exec succeeded
  Status status;           // not OK: why it did not start (starts with its `who`)
};

struct SpawnOptions {
  // How long one child may take from its fork to its exec; a child that takes
  // longer is SIGKILLed (left for the caller's reaper) and reported.
  std::chrono::milliseconds timeout{5000};
  // At most this many children between fork and exec at once (each holds a
  // pipe while it does).
  size_t window = 64;
  // Set in each child before exec when non-null (the caller raised its own
  // RLIMIT_NOFILE; workers get the original).
  const struct rlimit* child_nofile = nullptr;
  // Optional: more descriptors to watch while children start (the caller's
  // output pipes, so that workers never block on a full pipe meanwhile).
  // `watch` appends them before each wait; `ready(k)` is called for the k-th
  // of those it appended that has an event.
  std::function<void(std::vector<pollfd>*)> watch;
  std::function<void(size_t)> ready;
};

// Starts jobs[0], jobs[1], ... in order, each in a child that: gets its own
// process group; gets SIGKILL when the calling process dies
// (PR_SET_PDEATHSIG); has default signal dispositions and an empty signal
// mask; reads /dev/null; writes stdout and stderr to the descriptor
// `open_output(i)` returns (-1: /dev/null); runs in plan.cwd; then execs.
// The next child is forked without waiting for the previous one's exec: the
// outcomes (a CLOEXEC pipe per child: EOF once exec succeeded, errno and the
// failed step otherwise) are collected in one poll loop. After the first
// failure (of open_output, fork or a child) no further job is forked, but
// those already forked are collected. `forked(i)` runs, for each job whose
// open_output succeeded, once the fork was done or could not be (to drop the
// parent's copy of the output descriptor). A child that failed is reaped
// here; one that exec'd, or was killed for taking too long, is left to the
// caller's reaper.
// REQUIRES: the calling process is single-threaded.
std::vector<SpawnOutcome> ForkExecMany(const std::vector<SpawnJob>& jobs,
                                       const std::function<Result<int>(size_t)>& open_output,
                                       const std::function<void(size_t)>& forked,
                                       const SpawnOptions& options);

}  // namespace berth::runtime::local
