#pragma once
// Internal to `berth run` (not in include/): Run is one `berth run` of an
// experiment, from loading its file to the last worker stopped. It owns the
// Scheduler (driven only from the main thread), the run dir's state and, on
// Slurm, the job that holds the experiment; it also serves the control API.
//
// Its members are defined by concern:
//   runner.cc       loading, planning, starting, watching, teardown
//   run_control.cc  the control API's handlers and the snapshot they read
//   run_slurm.cc    the Slurm job: submission, its failures, its devices, steps
//   run_slurm_lost.cc  a node lost: the units on it, further jobs, or all again

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "berth/clock.h"
#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/process.h"
#include "berth/recovery.h"
#include "berth/scheduler.h"
#include "control/control_server.h"
#include "formats/run_state.h"
#include "run/event_feed.h"
#include "run/events_log.h"
#include "run/run_dir.h"
#include "run/runner.h"
#include "run/stop_request.h"
#include "runtime/slurm/allocation.h"
#include "runtime/slurm/node_watch.h"

namespace berth::run {

using std::chrono::milliseconds;

// What a Run works with. RunExperiment gives the real ones; a test gives
// fakes (run_fake_test.cc), so that the life cycle is tested without
// processes and on a fake clock.
struct RunSeams {
  std::unique_ptr<ProcessLauncher> launcher;
  // Says when to stop: a stop signal or POST /v1/down.
  std::unique_ptr<StopRequest> stop;
  // Not owned; they outlive the Run. Default: the system's.
  Clock* clock = nullptr;
  WorkerProbe* probe = nullptr;
  runtime::slurm::CommandRunner* slurm_commands = nullptr;
  // The cgroup the launcher's workers run in ("" for none), for state.json,
  // and why there is none (said at start; "" to say nothing).
  std::string cgroup;
  std::string no_cgroup;
};

// The control API's endpoints are Run's: status and roles from a snapshot
// taken wherever the state is saved, the rest queued to the main thread
// (the Scheduler's only thread), which runs them between two waits of Watch.
class Run : private control::ControlHandlers {
 public:
  Run(RunOptions options, RunSeams seams)
      : options_(std::move(options)),
        clock_(seams.clock != nullptr ? *seams.clock : Clock::System()),
        probe_(seams.probe),
        slurm_commands_(seams.slurm_commands != nullptr ? *seams.slurm_commands
                                                        : runtime::slurm::CommandRunner::System()),
        launcher_(std::move(seams.launcher)),
        stop_(std::move(seams.stop)),
        cgroup_(std::move(seams.cgroup)),
        no_cgroup_(std::move(seams.no_cgroup)) {}
  // The mailbox first: the server's threads may be waiting on it.
  ~Run() override {
    mailbox_.Close("berth is stopping");
    feed_.Close();
    CloseGroups();
    control_.Stop();
  }

  int Main();

 private:
  // control::ControlHandlers, on the server's threads.
  control::ControlReply GetStatus() override;
  control::ControlReply GetStatusAfter(int64_t after_version, double timeout_s) override;
  control::ControlReply GetMap() override;
  control::ControlReply ListRoles() override;
  control::ControlReply GetWorkers(const std::string& role, double timeout_s) override;
  control::ControlReply CreateRole(const RoleSpec& role) override;
  control::ControlReply ForkRole(const std::string& role, const std::string& target,
                                 const std::vector<std::string>& command) override;
  control::ControlReply DeleteRole(const std::string& role) override;
  control::ControlReply Down() override;
  control::ControlReply GetEvents(int64_t after, double timeout_s) override;
  control::ControlReply ScaleRole(const std::string& role, int replicas,
                                  std::optional<double> timeout_s) override;
  control::ControlReply GetGroup(const std::string& name, int64_t after_version,
                                 double timeout_s) override;
  // A communication group's new version: events.jsonl, the feed, and the
  // view GET /v1/groups serves.
  void OnCommGroup(const CommGroup& group);
  // Long polls of GET /v1/groups answer now.
  void CloseGroups();
  // Why a queued request waits, for its 503.
  std::string BusyReason();
  // On the main thread: the end of a create or fork call.
  control::ControlReply Created(const std::string& role, Result<std::vector<std::string>> ids);
  void StartControl();
  void StopControl(const std::string& why);
  // state_ -> the snapshot the control API serves.
  void Publish();
  // The plan's placement map for GET /v1/map (the status page).
  void DrawMap(const Plan& plan);
  // Exits of running workers: nullopt to go on, else berth run's exit code.
  std::optional<int> HandleExits(const std::vector<Worker>& exits);
  // Workers that ended while an API call waited (get_workers answers an exit
  // it sees itself), not yet handled.
  std::vector<Worker> EndedUnhandled();
  Status Load();
  Status PlanAndAdmit();
  Status StartScheduler();
  bool StartRoles();
  // After Slurm ended the whole job with a lost node (a heterogeneous job,
  // or the node of its batch script): everything down, planned again on the
  // nodes left, a new job, the roles started again. False when it could
  // not. Allowed when every role's on_failure is restart, at most the
  // smallest max_restarts of the roles times: WholeRestartsAllowed (nullopt
  // when not allowed).
  bool Replace();
  std::optional<int> WholeRestartsAllowed() const;
  Status Allocate(const Plan& plan);
  // On Slurm: the plan on the partition's nodes (those lost in this run left
  // out), which become nodes_; on nodes as configured when busy nodes stand
  // in the way (the job waits in the queue).
  Result<Plan> PlanSlurm();
  // On Slurm: workers start as steps of the job and are signalled through
  // Slurm before they are stopped.
  void UseSlurmSteps(SchedulerOptions& so);
  std::string Devices(const WorkerPlan& w) const;
  // Empty while the Slurm job runs and `w`'s node answers; else the cause
  // of `w`'s end, to begin the message (run_slurm.cc).
  std::string SlurmFailure(const Worker& w);
  std::string MarkLost(const std::string& node);
  bool NodeWentSilent(const std::string& node);
  // The message for nodes found silent; they and their workers are marked
  // lost (lost_nodes_, the records).
  std::string NodeLoss(const std::vector<std::pair<std::string, milliseconds>>& silent);
  // The job is cancelled as lost with its node (node_failed_).
  void CancelLostJob();
  // Whether `w` ended because its node is lost while its job runs on: how
  // long the node has been silent (0: Slurm said it is down), else nullopt.
  std::optional<milliseconds> LostWithItsNode(const Worker& w);
  // The watch of the job that holds `node`, or nullptr.
  runtime::slurm::NodeWatch* WatchOf(const std::string& node) const;
  // Nodes found lost while the job runs on (run_slurm_lost.cc): their
  // workers fail by their roles' on_failure. nullopt when every policy
  // handles it (the node watch starts again without them); else berth run's
  // exit code, the run failed and the job cancelled.
  std::optional<int> NodesLost(std::vector<std::pair<std::string, milliseconds>> silent);
  // SchedulerOptions::before_restart on Slurm: makes sure that a job holds
  // the nodes and devices of the unit's new workers, submitting a further
  // job for those no job holds and waiting until it runs.
  Status HoldForRestart(const std::vector<WorkerPlan>& next);
  // The job that holds `w`'s node and devices: the first, or a further one;
  // nullptr for none. JobOf: the same, the first job for none.
  const runtime::slurm::Allocation* HoldingJob(const WorkerPlan& w) const;
  const runtime::slurm::Allocation& JobOf(const WorkerPlan& w) const;
  // The further jobs' node watches, as CheckSlurmNodes does for the first.
  std::optional<int> CheckFurtherJobs();
  // Their watches stopped, each cancelled and waited for.
  void EndFurtherJobs();
  // Those that no worker runs in any more (a role scaled down) cancelled.
  void EndIdleFurtherJobs();
  // The holder job's own last word (it ends itself without berth's
  // heartbeat), to begin a message; "" when it said nothing.
  std::string HolderLogNote() const;
  // Nodes of the job that stopped answering (runtime/slurm/node_watch.h):
  // nullopt to go on, else berth run's exit code (the run failed, naming the
  // node and the workers lost with it).
  std::optional<int> CheckSlurmNodes();
  // The node watch stopped, the job cancelled and waited for.
  void EndSlurmJob();
  void OnEvent(const SchedulerEvent& e);
  // One event to events.jsonl and to the feed of GET /v1/events.
  void AppendEvent(const nlohmann::ordered_json& event);
  // A step of a role's on_failure: printed, appended to events.jsonl, and
  // noted on the worker's record.
  void OnRecovery(const RecoveryEvent& e);
  int Watch();
  void Fail(int code, const std::string& message);
  void Save();
  formats::WorkerRecord* Record(const std::string& id);
  void ShowTable(bool redraw);

  bool Stopping() { return stop_->stopping(); }

  RunOptions options_;
  Clock& clock_;
  WorkerProbe* probe_;  // nullptr: the system's
  runtime::slurm::CommandRunner& slurm_commands_;
  std::unique_ptr<ProcessLauncher> launcher_;  // until the Scheduler takes it
  std::unique_ptr<StopRequest> stop_;
  std::string cgroup_;     // RunSeams::cgroup
  std::string no_cgroup_;  // RunSeams::no_cgroup
  // Held (locked) from Load to the end; released after the members below it,
  // which write in it.
  std::optional<RunDirectory> run_dir_;
  std::unique_ptr<Scheduler> scheduler_;
  // Each role's on_failure, once the scheduler runs; its steps go to the
  // screen and to events.jsonl.
  std::unique_ptr<Recovery> recovery_;
  std::optional<EventsLog> events_;
  EventFeed feed_;  // the same events for GET /v1/events
  ExperimentSpec experiment_;
  std::vector<NodeSpec> nodes_;
  bool slurm_ = false;
  bool node_failed_ = false;  // the last failure was the Slurm job's NODE_FAIL
  Clock::TimePoint last_save_;
  std::unique_ptr<runtime::slurm::Allocation> alloc_;      // backend slurm, once submitted
  std::unique_ptr<runtime::slurm::NodeWatch> node_watch_;  // while the job runs
  // Jobs submitted after a node was lost, for units the first no longer
  // holds (HoldForRestart), each with its node watch.
  struct FurtherJob {
    std::unique_ptr<runtime::slurm::Allocation> alloc;
    std::unique_ptr<runtime::slurm::NodeWatch> watch;
  };
  std::vector<FurtherJob> further_;
  int further_submitted_ = 0;  // names their folders further-1, -2, ... uniquely
  Clock::TimePoint next_node_check_;
  std::set<std::string> lost_nodes_;  // found silent by node_watch_: never planned on again
  std::vector<const RoleSpec*> launch_order_;
  formats::RunState state_;
  int exit_code_ = 0;
  size_t table_lines_ = 0;  // lines of the table last drawn, for a redraw

  // The dry plan's workers and communication groups (version 1), for the
  // Scheduler's groups while roles come up.
  std::vector<WorkerPlan> planned_workers_;
  std::vector<CommGroup> planned_groups_;

  std::mutex snapshot_mu_;
  std::condition_variable groups_cv_;            // a group's new version
  std::map<std::string, CommGroup> groups_now_;  // guarded by snapshot_mu_
  bool groups_closed_ = false;                   // guarded by snapshot_mu_
  formats::RunState snapshot_;                   // guarded by snapshot_mu_
  // For the status page (GET /v1/status?after_version, GET /v1/map): the
  // snapshot's number, bumped by each Publish; when each worker last started
  // (its uptime); the plan's map, drawn once planned. Guarded by snapshot_mu_
  // but started_, the main thread's, copied to started_now_ by Publish.
  std::condition_variable status_cv_;
  int64_t status_version_ = 0;
  std::map<std::string, std::chrono::system_clock::time_point> started_;
  std::map<std::string, std::chrono::system_clock::time_point> started_now_;
  std::string map_html_;
  std::vector<std::string> roles_now_;  // guarded by snapshot_mu_
  control::ControlMailbox mailbox_{[this] { return BusyReason(); }};
  control::ControlServer control_;
};

}  // namespace berth::run
