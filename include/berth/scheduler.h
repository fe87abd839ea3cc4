#pragma once
// The Scheduler: AReaL's scheduler API (create_workers, get_workers,
// delete_workers, fork_workers) in C++, on the placement engine and the local
// process runtime. `berth run` is a thin loop around it.
//
// Every call is all-or-nothing: a call that fails returns an error value and
// leaves nothing it created behind, neither processes nor placement groups.
// Errors name the role, the worker and what to change; their codes:
//   kInvalidSpec   bad job (duplicate role, zero replicas, spec count neither
//                  1 nor replicas, replica mismatch with the target, ...)
//   kNotFound      unknown role, or a colocation target without workers
//   kInfeasible / kUnavailable   the role's groups do not fit (the engine's
//                  explanation follows)
//   kWorkerFailed  a worker exited during start-up: its exit status and the
//                  last 50 lines of its log (also in last_failure())
//   kTimeout       a worker was not ready within its startup timeout
//   kBackend       the process runtime failed (a port source, a spawn)
//
// Not thread-safe: one thread drives a Scheduler.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "berth/clock.h"
#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/process.h"
#include "berth/status.h"

namespace berth {

enum class WorkerPhase { kStarting, kReady, kExited, kFailed, kStopped };
const char* WorkerPhaseName(WorkerPhase p);  // "starting", "ready", "exited", "failed", "stopped"

// A worker the Scheduler started, with where it runs.
struct Worker {
  WorkerPlan plan;  // id, role, index, node, address, gpus, ports, env, argv
  int pid = -1;
  WorkerPhase phase = WorkerPhase::kStarting;
  std::string exit;      // "exited with code 3", once it ended
  int exit_status = -1;  // its code, 128+N when signal N killed it; -1 while it runs
  int restarts = 0;      // relaunches after a port conflict at start-up
  std::string log_path;  // its own log (stdout and stderr)
};

// Why the last failing call failed, for a caller that wants the exit code.
struct WorkerFailure {
  std::string worker;
  int exit_code = 1;        // the worker's; 128+N when signal N killed it; 1 for a timeout
  std::string description;  // "exited with code 3", "not ready within 30 s"
  std::string log_tail;     // its last 50 log lines
};

// Progress, for a caller that shows it.
struct SchedulerEvent {
  enum class Kind { kStarted, kReady, kPortConflict, kExited, kStopped };
  Kind kind = Kind::kStarted;
  std::string worker;
  std::string detail;  // kExited: the description; kPortConflict: which port
  double seconds = 0;  // kReady: since it was started
};

// Where a worker answers once it is ready: a TCP port, or an HTTP path on it.
struct ReadinessTarget {
  std::string address;
  int port = -1;
  std::string path;  // empty: a TCP connect is enough; else GET must answer 2xx
};

// How the Scheduler looks at workers' ports. A seam: System() probes with
// real sockets; a test gives a scripted one, so that readiness, timeouts and
// port conflicts are tested without a network.
class WorkerProbe {
 public:
  virtual ~WorkerProbe() = default;
  // For each target, whether it is ready; all probes together take at most
  // `timeout`.
  virtual std::vector<bool> Ready(const std::vector<ReadinessTarget>& targets,
                                  std::chrono::milliseconds timeout) = 0;
  // Whether `port` can be bound on this machine now (a worker that exited at
  // start-up may have lost its port to another process).
  virtual bool PortFree(int port) = 0;

  // Real sockets. It has no state.
  static WorkerProbe& System();
};

struct SchedulerOptions {
  // The cluster. For the local runtime: this machine as one node
  // (runtime/local/local_node.h builds it).
  std::vector<NodeSpec> nodes;
  // Roles that will be created later, so that a forked role's cpu and mem are
  // reserved in its target's bundles when the target is created (a placed
  // bundle cannot grow). `berth run` passes the experiment's roles.
  std::vector<RoleSpec> expected_roles;
  // Per-worker logs: <log_dir>/<role>.<index>.log. Required.
  std::string log_dir;
  // Every worker's lines prefixed with its id. Empty: <log_dir>/merged.log.
  std::string merged_log;
  // The folder the logs are kept in: nothing below it is followed when a log
  // is opened (a symbolic link planted at a log, or at a folder on the way,
  // fails the launch naming it, and nothing is written through it); its own
  // path may go through links. Empty: log_dir. `berth run` gives its run
  // directory, which holds logs/ and merged.log. A merged_log outside it
  // only has its own name checked (LaunchSpec::log_root).
  std::string log_root;
  // The environment workers start from (the plan's variables are set over
  // it). Default: berth's own environment.
  std::optional<std::vector<std::pair<std::string, std::string>>> base_env;
  // Ports. Default: roles::LocalFreePorts() (free now, never handed out twice).
  PortSource ports;
  // A role whose worker exits at start-up because one of its ports was taken
  // meanwhile is started again with new ports, up to this many attempts.
  int port_attempts = 3;
  // SIGTERM -> SIGKILL, per teardown stage.
  std::chrono::milliseconds grace{5000};
  // Turns a worker's launch on this machine into the runtime's: the Slurm
  // backend wraps its argv in an srun step on its node. Default: none.
  std::function<Result<LaunchSpec>(const WorkerPlan&, LaunchSpec)> wrap_launch;
  // Asks the workers of one teardown stage to stop, before they are
  // terminated: the Slurm backend signals their steps (SIGTERM to srun would
  // SIGKILL them). The Scheduler then waits up to `grace` for them to exit
  // and terminates what is left. Default: none (SIGTERM to each process tree).
  std::function<void(const std::vector<WorkerPlan>&)> before_stop;
  // Called by RestartUnit once the unit is stopped and its new workers are
  // built, before they are launched: `stopped` as they ended, `next` where
  // they will run; and by ScaleWorkers before new instances start (nothing
  // stopped). The local runtime waits there until the GPUs' memory is
  // released (NVML); the Slurm backend makes sure that a job holds the new
  // workers' nodes. An error fails the restart (the unit stays stopped, on
  // record). Default: none.
  std::function<Status(const std::vector<Worker>& stopped, const std::vector<WorkerPlan>& next)>
      before_restart;
  // Before a unit restarts on GPUs of this machine that its stopped workers
  // held, wait up to this long until NVML lists none of their processes
  // there: a process's GPU memory outlives it until the driver has released
  // it. Not released by then: the restart fails (and its policy tries again
  // after the backoff). Without NVML here (no driver, another PID
  // namespace), or 0: no wait. berth run and the Python module give 30 s
  // for local workers.
  std::chrono::milliseconds gpu_release_wait{0};
  // Communication groups across the roles (ExperimentSpec::comm_groups):
  // each launched member gets its rank, the world size, the rendezvous and
  // the version in its env; the version goes up, with a new port, whenever
  // the members change (a role created, scaled, a unit restarted or
  // dropped). `planned_workers` and `planned_comm_groups`: the dry plan
  // (MakePlan) of the roles to come, which count as members until they are
  // created, so that roles created in the plan's order all get version 1
  // (with a port of the run's own: the plan's are counted, not checked).
  std::vector<CommGroupSpec> comm_groups;
  std::vector<WorkerPlan> planned_workers;
  std::vector<CommGroup> planned_comm_groups;
  // A group's new version, as it is made.
  std::function<void(const CommGroup&)> on_comm_group;
  std::function<void(const SchedulerEvent&)> on_event;
  // Polled while waiting for readiness: true aborts the call (rolled back,
  // kUnavailable "interrupted").
  std::function<bool()> interrupted;
  // Time, and how workers' readiness is seen. Not owned; they must outlive
  // the Scheduler. Default (nullptr): Clock::System(), WorkerProbe::System().
  Clock* clock = nullptr;
  WorkerProbe* probe = nullptr;
};

class Scheduler {
 public:
  // Starts the process supervisor. REQUIRES: the calling process has one
  // thread (see ProcessSupervisor::Start).
  static Result<std::unique_ptr<Scheduler>> Start(SchedulerOptions options);
  // The same on a launcher the caller made: a ProcessSupervisor it started
  // earlier, while it had one thread (berth run starts it before it loads
  // NVML, which may add threads), or a fake one in a test.
  static Result<std::unique_ptr<Scheduler>> Start(SchedulerOptions options,
                                                  std::unique_ptr<ProcessLauncher> launcher);
  ~Scheduler();  // deletes every worker
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Places the job's role and starts its workers, then waits until each is
  // ready (bounded by the role's startup timeout). Returns the worker ids in
  // index order; an alias (colocation with fork: false) starts nothing and
  // returns its target's ids.
  Result<std::vector<std::string>> CreateWorkers(const RoleSpec& job);

  // One new worker per worker of `target`, on its node and GPUs, with its
  // environment and port names; runs `command` (default: the target's cmd).
  // Declares no cpu or mem of its own, as AReaL's forks.
  Result<std::vector<std::string>> ForkWorkers(const std::string& role, const std::string& target,
                                               const std::vector<std::string>& command = {});

  // The role's workers in index order, once all are ready, waiting up to
  // `timeout`. An alias returns its target's. Errors: kNotFound, kWorkerFailed
  // (one has exited), kTimeout.
  Result<std::vector<Worker>> GetWorkers(const std::string& role,
                                         std::chrono::milliseconds timeout);

  // Stops the role's workers (nullopt: every role) and releases their groups:
  // roles colocated on it first, then the role; within a role, rank 0 last;
  // SIGTERM to each worker's process tree, `grace`, then SIGKILL. An unknown
  // role is kNotFound.
  Status DeleteWorkers(const std::optional<std::string>& role = std::nullopt);

  // The workers that restart or stop together with `worker` (its unit): all
  // of a shared role (one gang), or the processes of one separate or
  // deferred instance; then the forked workers standing on them. A forked
  // worker's unit is its target's. Empty for an unknown worker.
  std::vector<std::string> UnitOf(const std::string& worker) const;

  // Stops the unit of `worker` (forks first, then the unit, its rank 0 or
  // head last) and starts it again on the same nodes and devices with new
  // ports (on other ones for bundles whose node was lost: LoseNode),
  // targets before their forks, each launch counted in Worker::restarts;
  // waits until it is ready. Returns the unit's ids. On
  // error (as CreateWorkers': an exit during start-up, a timeout) the unit
  // is left stopped, on record, for another RestartUnit or a DropUnit.
  Result<std::vector<std::string>> RestartUnit(const std::string& worker);

  // A node is gone (a Slurm node down, a lost agent): its capacity leaves
  // the cluster, and the bundles that stood on it are placed again where
  // they fit under their groups' strategies (RolePlanner::RemoveNode), for
  // the next RestartUnit of their units; one that fits nowhere makes that
  // restart fail, explained. Its workers are not stopped here: returns
  // those that stood on it and had not finished (running, or failed: the
  // one whose exit revealed the loss), for the caller to restart, drop or
  // fail by their roles' policies. Errors: kNotFound for a node not in the
  // cluster or lost already.
  Result<std::vector<std::string>> LoseNode(const std::string& node);

  // Stops the unit of `worker` for good; the rest of its role runs on. Its
  // bundles stay reserved until the role is deleted.
  Status DropUnit(const std::string& worker);

  // Grows or shrinks a separate or deferred role to `replicas` instances
  // while the rest runs. Growing places one group per new instance under
  // the role's strategy and starts it (and the forks on the role on it),
  // then waits until they are ready: each worker's startup timeout, or
  // `timeout` for all. All or nothing: when the new instances do not fit
  // (kUnavailable or kInfeasible, the engine's explanation attached) or do
  // not come up, nothing new stays. Shrinking stops the highest instances
  // first, in teardown order (their forks first, each head last) and
  // releases their groups. The same size is nothing to do. Returns the
  // role's ids. Errors: kNotFound; kInvalidSpec for a shared role (one
  // gang), a colocated one (scale its target), one with a spec per worker,
  // replicas below 1 or below the role's min_replicas.
  Result<std::vector<std::string>> ScaleWorkers(
      const std::string& role, int replicas,
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // The communication groups as they are now (SchedulerOptions::comm_groups).
  std::vector<CommGroup> CommGroups() const;

  // The spec a role was created with, or nullptr.
  const RoleSpec* FindRoleSpec(const std::string& role) const;

  // Plans on these nodes from now on (after a node failure, say). Errors:
  // kInvalidSpec while any role has workers (delete them first).
  Status ReplaceCluster(const std::vector<NodeSpec>& nodes);

  // Exits of running workers, waiting up to `timeout` for the first.
  // Errors: the process runtime is gone.
  Result<std::vector<Worker>> WaitExits(std::chrono::milliseconds timeout);

  // Every worker, launch order.
  std::vector<Worker> Workers() const;
  // One worker, or nullptr; valid until the next call that changes workers.
  const Worker* FindWorker(const std::string& id) const;
  std::vector<std::string> Roles() const;  // creation order, aliases included
  std::vector<GroupView> Groups() const;
  std::vector<std::string> Warnings() const;  // from planning, so far
  const std::optional<WorkerFailure>& last_failure() const;

 private:
  struct Impl;
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth
