#pragma once
// The local process runtime's foundation: a supervisor that starts worker
// processes and guarantees that none of them, nor anything they start, outlives
// berth.
//
// ProcessSupervisor::Start() forks a small supervisor process that stays
// single-threaded, makes itself a child subreaper (PR_SET_CHILD_SUBREAPER, so
// every orphaned descendant is re-parented to it, whatever setsid or double
// fork it did) and serves requests over a socketpair. When its end of the
// socket reaches EOF (berth returned, called exit(), crashed or was SIGKILLed)
// the supervisor SIGTERMs every descendant, waits SupervisorOptions::grace,
// SIGKILLs the rest, reaps them and exits. Workers get PR_SET_PDEATHSIG=SIGKILL
// so that they die with the supervisor even if it is SIGKILLed itself, and the
// berth side kills everything carrying the supervisor's token if it sees the
// supervisor vanish.
//
// Each worker runs in its own process group with exactly the environment of
// its LaunchSpec plus one marker variable,
//   BERTH_SUPERVISOR_TOKEN=<random token of this supervisor>/<worker id>
// so that descendants that left the worker's process group and session are
// still attributed to it (through /proc/<pid>/environ). Workers get berth's
// RLIMIT_NOFILE (the supervisor raises its own soft limit to its hard limit,
// to hold the log descriptors of many workers).
//
// Residual gaps:
//  - A descendant that drops the marker from its environment AND loses its
//    ancestry to the worker (its parent exits, so it is re-parented to the
//    supervisor) is killed by TerminateAll/Shutdown/berth's exit, but not by
//    Terminate(id).
//  - If the supervisor itself is SIGKILLed, its workers die with it
//    (PDEATHSIG) and berth kills everything that carries the marker (and
//    everything in the supervisor's cgroup, with own_cgroup) when it next
//    calls the ProcessSupervisor. If berth and the supervisor are SIGKILLed
//    at the same time (`pkill -9 -f berth` matches both: the supervisor is a
//    fork of berth or the berth-supervisor program), the workers'
//    descendants survive them: nothing is left alive to kill them. With
//    SupervisorOptions::own_cgroup they are all still in the supervisor's
//    cgroup (cgroup()), so whoever recorded its path can kill them later
//    with one write to its cgroup.kill: `berth run` records it in the run
//    dir's state.json, and `berth down` or the next `berth run` on the
//    directory kills it. A process running as root can still move itself
//    out of the cgroup.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "berth/status.h"

namespace berth {

// What to run. A plain aggregate; Validate() says what is wrong with it.
struct LaunchSpec {
  // Names the worker in events, logs and Terminate(). 1-128 characters from
  // [A-Za-z0-9._:/@+-]; unique for the supervisor's lifetime (an exited
  // worker keeps its id; a failed Spawn does not take it).
  std::string id = {};
  // argv[0] is the program: a path if it holds a '/', else searched in the
  // PATH of `env` (default "/usr/local/bin:/usr/bin:/bin" if env has none). No
  // shell is involved. Must not be empty; no element may hold a NUL byte.
  std::vector<std::string> argv = {};
  // The COMPLETE environment of the child, in this order, byte for byte
  // (values may hold anything but NUL). BERTH_SUPERVISOR_TOKEN is appended;
  // keys must be non-empty, hold no '=' or NUL, be distinct and not be
  // BERTH_SUPERVISOR_TOKEN.
  std::vector<std::pair<std::string, std::string>> env = {};
  // Working directory of the child. Default (empty): berth's working directory
  // at Spawn() time. A relative path is taken relative to it.
  std::string cwd = {};
  // stdout and stderr of the child are appended here; parent directories are
  // created. Empty: discarded. Relative: to berth's working directory. The
  // file's own name is never followed: a symbolic link there is refused
  // (kInvalidSpec, naming it), as is a FIFO, a directory or a file with other
  // hard links; nothing is written through them.
  std::string log_path = {};
  // Optional: every line the worker writes is also appended here as
  // "[<id>] <line>\n", one write per batch of whole lines, so lines of
  // different workers never interleave mid-line. A line longer than 64 KiB is
  // cut into several; a last line without '\n' gets one. Several workers may
  // share the file.
  std::string merged_log_path = {};
  // Optional: the folder the logs are kept in (a run directory). Its own
  // path is the caller's and may go through links; of log_path and
  // merged_log_path, each one that lies beneath it (its path starts with
  // log_root's) is opened without following anything below log_root: a
  // symbolic link planted there, at the file or at a folder on the way, is
  // refused (kInvalidSpec, naming it) and nothing is written through it.
  // log_root and the folders below it are created 0700 when missing.
  std::string log_root = {};

  Status Validate() const;
  bool operator==(const LaunchSpec&) const = default;
};

// A worker's main process ended (its descendants may live on until Terminate).
// When this event is seen, all output the process itself wrote is in its logs.
struct ExitEvent {
  std::string id;
  int pid = -1;
  int exit_code = -1;  // when it exited, else -1
  int signal = 0;      // when a signal killed it, else 0
  // "exited with code 3", "killed by signal 9 (SIGKILL)",
  // "killed by signal 11 (SIGSEGV), core dumped".
  std::string description;

  bool success() const { return exit_code == 0; }
  bool operator==(const ExitEvent&) const = default;
};

struct SupervisorOptions {
  // How long processes get between SIGTERM and SIGKILL when berth goes away or
  // the ProcessSupervisor is destroyed. Default: 2 s. At most 10 min.
  std::chrono::milliseconds grace{2000};
  // How long after SIGKILL processes may take to vanish before an operation
  // reports them as survivors (a process stuck in the kernel, state D).
  // Default: 5 s. 100 ms to 60 s.
  std::chrono::milliseconds kill_timeout{5000};
  // How long fork-to-exec of one worker may take. Default: 5 s.
  std::chrono::milliseconds spawn_timeout{5000};
  // The berth-supervisor executable. Empty (default): the supervisor is a
  // fork of the calling process, which must then have one thread. Set: the
  // fork execs this program at once, so the caller may have threads (a
  // Python interpreter, say).
  std::string exec_path;
  // Whether the supervisor, and so every worker and everything they start
  // (setsid or double fork included), runs in a cgroup v2 of its own:
  // <cgroup2 mount><the caller's v2 cgroup>/berth-<caller's pid>-<random>,
  // made by Start, the supervisor moved into it before it starts anything,
  // removed once the supervisor exited (whatever is still in it is killed
  // first, with a line on stderr). It needs write access to the caller's
  // cgroup (root, or a delegated subtree); where there is none, Start goes
  // on without a cgroup and cgroup_unavailable() says why. Default: off
  // (the Python module's default); `berth run` turns it on unless
  // BERTH_CGROUP=off.
  bool own_cgroup = false;

  Status Validate() const;
};

// What the Scheduler needs of a process runtime: start workers, learn of
// their exits, stop them. A seam: ProcessSupervisor is the real one (its
// comments below give the full contract, which every implementation keeps);
// testing/fake_launcher.h is a scripted one, so that scheduling logic is
// tested without processes and on a fake clock.
class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;

  // Starts the workers, all or none, and returns their pids in `specs` order.
  virtual Result<std::vector<int>> SpawnMany(const std::vector<LaunchSpec>& specs) = 0;
  // Exit events received so far, in order, each returned once. Never blocks.
  virtual std::vector<ExitEvent> PollExits() = 0;
  // The next exit event, waiting up to `timeout`; nullopt on timeout.
  virtual Result<std::optional<ExitEvent>> WaitExit(std::chrono::milliseconds timeout) = 0;
  // From any thread: the WaitExit that waits now, or else the next one,
  // returns nullopt at once, so that its caller can take other work (berth
  // run's control API calls). Default: nothing (the wait runs its time).
  virtual void Wake() {}
  // SIGTERM to each worker's whole tree, SIGKILL at `grace`; returns once
  // all are gone and their exit events are queued.
  virtual Status TerminateMany(const std::vector<std::string>& ids,
                               std::chrono::milliseconds grace) = 0;
  // The same for every worker the launcher started.
  virtual Status TerminateAll(std::chrono::milliseconds grace) = 0;
};

// Client end of one supervisor process. Owns it: the destructor tears down all
// workers (Shutdown with options.grace) and reaps the supervisor.
//
// Thread-safe: one mutex serializes all calls, and each holds it for its whole
// duration (a WaitExit(10s) delays other callers by up to 10 s). Every call is
// bounded in time. Once the supervisor is lost (killed from outside) or shut
// down, calls that need it return kBackend errors; PollExits() still returns
// the events received before.
class ProcessSupervisor final : public ProcessLauncher {
 public:
  // Forks the supervisor process and waits until it is ready.
  // REQUIRES: the calling process has one thread (the supervisor is a fork
  // that keeps running our code, which is only safe when no other thread can
  // hold a lock at fork time), unless options.exec_path names the
  // berth-supervisor program. Errors: kInternal if there are more threads,
  // kBackend if a system call fails or exec_path cannot be executed.
  static Result<std::unique_ptr<ProcessSupervisor>> Start(const SupervisorOptions& options = {});

  ~ProcessSupervisor() override;
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Starts a worker and returns its pid once it has exec'd. Errors:
  // kInvalidSpec (bad spec, duplicate id), kBackend (log file, chdir or exec
  // failed, e.g. "worker 'w': cannot execute 'nosuch': No such file or
  // directory (ENOENT)"), or the supervisor is gone. SpawnMany of one spec.
  Result<int> Spawn(const LaunchSpec& spec);

  // Starts several workers, all or none, and returns their pids in the order
  // of `specs` once every one has exec'd. The supervisor forks them one after
  // another without waiting for each exec (up to 256 between fork and exec at
  // once) and collects the exec confirmations in one poll loop, so a batch
  // costs about one round trip, not one per worker; meanwhile it keeps copying
  // workers' output into their logs. Every guarantee of Spawn holds for each
  // worker.
  //
  // All or nothing: if any spec fails, the call returns the error of the
  // first failing spec in `specs` order, which names its worker id (and the
  // errno); the workers of the batch that had already started are SIGKILLed
  // with their whole trees, reaped, and forgotten before the call returns:
  // no process of the batch runs, no exit event is reported for any of
  // them, and all the ids are free again. For a batch of more than one, the
  // message ends with "(the batch of N workers was rolled back: none of them
  // runs)". Specs are checked before anything starts: kInvalidSpec for a bad
  // spec, an id already in use ("worker id 'x' is already in use") or given
  // twice in `specs` ("worker id 'x' appears twice in the batch"). An empty
  // `specs` starts nothing and returns an empty vector.
  Result<std::vector<int>> SpawnMany(const std::vector<LaunchSpec>& specs) override;

  // Exit events received so far, in order, each returned once. Never blocks.
  std::vector<ExitEvent> PollExits() override;
  // The next exit event, waiting up to `timeout`; nullopt on timeout. Error
  // when the supervisor is gone and no event is pending.
  Result<std::optional<ExitEvent>> WaitExit(std::chrono::milliseconds timeout) override;
  // Lock-free (a byte down a pipe that WaitExit also polls).
  void Wake() override;

  // SIGTERMs the worker's whole tree: its process group, its descendants and
  // every process carrying its marker; SIGTERMs newcomers as they appear
  // (found by rescans of the supervisor's subtree, 10 ms after the start and
  // then ever less often, up to 250 ms apart); at `grace` SIGKILLs whatever is
  // left; returns once all are gone and the main process is reaped (its
  // ExitEvent then comes before any later event), also for a worker that
  // already exited (its leftovers are killed). Exits are noticed through
  // SIGCHLD, not by polling: a worker that honours SIGTERM is done about as
  // soon as it has exited. The costly search of every process's environment
  // for the marker runs when the termination starts, when everything it
  // signalled has gone (to confirm before returning), and once a second
  // while a grace period runs. Errors:
  // kNotFound (unknown id), kBackend if processes survive SIGKILL for
  // options.kill_timeout (their pids are named).
  Status Terminate(const std::string& id, std::chrono::milliseconds grace);
  // Terminate for several workers at once: all are signalled together, so it
  // takes about one grace period (or as long as the slowest takes to exit).
  Status TerminateMany(const std::vector<std::string>& ids,
                       std::chrono::milliseconds grace) override;
  // Same for all workers at once, and for every other descendant of the
  // supervisor: all are signalled together, so it takes about `grace`, not the
  // sum over workers.
  Status TerminateAll(std::chrono::milliseconds grace) override;
  // TerminateAll, then the supervisor exits and is reaped. Later Spawn and
  // Terminate calls fail. Idempotent.
  Status Shutdown(std::chrono::milliseconds grace);

  // The worker's main pid, or -1 if the id is unknown.
  int pid(const std::string& id) const;
  // Whether the worker's main process has not yet been reported as exited
  // (reads pending events first, without blocking).
  bool alive(const std::string& id) const;
  // The supervisor process (for tests and diagnostics).
  int supervisor_pid() const;
  // The random per-supervisor token in the workers' BERTH_SUPERVISOR_TOKEN.
  const std::string& token() const;
  // The supervisor's cgroup directory (options.own_cgroup), "" when it runs
  // without one.
  const std::string& cgroup() const;
  // Why there is no cgroup although options.own_cgroup asked for one
  // ("/sys/fs/cgroup/berth-12-0123456789abcdef: Permission denied
  // (EACCES)"); "" otherwise.
  const std::string& cgroup_unavailable() const;

 private:
  struct Impl;
  explicit ProcessSupervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The variable that marks a supervisor's workers and their descendants.
inline constexpr char kSupervisorTokenVar[] = "BERTH_SUPERVISOR_TOKEN";

}  // namespace berth
