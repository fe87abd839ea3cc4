// `berth run`: RunExperiment and the main line of Run (run.h): the
// experiment loaded and planned, the Scheduler started, the roles started in
// launch order, their exits watched, the experiment placed again after a
// node failure on Slurm, and everything torn down in order. The control
// API's handlers are in run_control.cc, the Slurm job in run_slurm.cc,
// `berth status` and `berth down` in status_down.cc.

#include "run/runner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/process.h"
#include "berth/scheduler.h"
#include "common/read_file.h"
#include "formats/run_state.h"
#include "placement/explain_text.h"
#include "roles/ports.h"
#include "run/leftovers.h"
#include "run/run.h"
#include "run/slurm_leftover.h"
#include "runtime/local/local_node.h"
#include "runtime/slurm/allocation.h"
#include "scheduler/gpu_release_wait.h"

namespace berth::run {

namespace {

// <berth's folder>/berth-supervisor when it is there and executable, else "".
std::string SupervisorBesideBerth() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const std::string program = (self.parent_path() / "berth-supervisor").string();
  return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
}

std::string DefaultRunDir(const std::string& name) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "berth-runs/" + name + "-" + stamp + "-" + std::to_string(getpid());
}

// Exit code of `berth run` for an error of the Scheduler.
int ExitCodeFor(const Status& s, const Scheduler& scheduler) {
  switch (s.code()) {
    case ErrorCode::kWorkerFailed:
    case ErrorCode::kTimeout:
      return scheduler.last_failure() ? scheduler.last_failure()->exit_code : 1;
    case ErrorCode::kInfeasible:
    case ErrorCode::kUnavailable:
      return 3;
    case ErrorCode::kInvalidSpec:
    case ErrorCode::kNotFound:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

Status Run::Load() {
  const std::string& path = options_.experiment_path;
  BERTH_ASSIGN_OR_RETURN(std::string text,
                         common::ReadFile(path, common::kMaxExperimentBytes, "an experiment file"));
  BERTH_ASSIGN_OR_RETURN(experiment_, ParseExperiment(text, path));
  if (!options_.backend.empty() && options_.backend != "local" && options_.backend != "slurm") {
    return InvalidSpec("--backend: \"" + options_.backend +
                       "\" is not a backend; use local or slurm");
  }
  slurm_ = options_.backend.empty() ? experiment_.backend == Backend::kSlurm
                                    : options_.backend == "slurm";
  if (!slurm_ && !no_cgroup_.empty()) {  // on Slurm, Slurm holds the workers
    std::fprintf(stderr,
                 "berth: workers run without a cgroup (%s): if berth and its supervisor are both "
                 "killed with SIGKILL, a worker's detached children can outlive them\n",
                 no_cgroup_.c_str());
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const RoleSpec& r : experiment_.roles) {
      if (r.colocation.has_value() == (pass == 1)) launch_order_.push_back(&r);
    }
  }
  state_.experiment = experiment_.name;
  // The experiment's run_dir is where the file says: relative to the file's
  // folder, not to wherever berth was started.
  state_.run_dir = !options_.run_dir.empty() ? options_.run_dir
                   : !experiment_.run_dir.empty()
                       ? common::BesideFile(options_.experiment_path, experiment_.run_dir)
                       : DefaultRunDir(experiment_.name);
  state_.berth_pid = getpid();
  state_.phase = "starting";
  state_.cgroup = cgroup_;
  // Created 0700, locked (a second berth run there is refused) and checked
  // for planted links before anything in it is read or written (run_dir.h).
  BERTH_ASSIGN_OR_RETURN(run_dir_, RunDirectory::Take(state_.run_dir));
  // What a berth killed with its supervisor left in this directory's last
  // run (its state.json is overwritten below).
  if (Result<formats::RunState> last = formats::ReadState(state_.run_dir)) {
    (void)EndLeftoverCgroup(*last, "berth run");
    (void)EndLeftoverSlurmJob(*last, state_.run_dir, "berth run", false);
  }
  StartControl();
  BERTH_RETURN_IF_ERROR(PlanAndAdmit());
  return StartScheduler();
}

// Reads the cluster, makes the dry plan (the whole experiment must fit
// before anything starts; the Scheduler places the roles the same way, in
// the same order, so it is also what the state file shows until the workers
// start) and, on Slurm, gets the job that holds it.
Status Run::PlanAndAdmit() {
  const std::string& path = options_.experiment_path;
  nodes_.clear();
  Result<Plan> plan = Internal("not planned");
  if (slurm_) {
    plan = PlanSlurm();  // and nodes_ (run_slurm.cc)
  } else {
    if (experiment_.cluster_file) {
      // A cluster file is for planning; running needs the nodes to be here.
      return InvalidSpec(path + ": cluster.file " + *experiment_.cluster_file +
                         " describes other machines; `berth run` runs on this machine (use "
                         "`berth plan` for a multi-node cluster, or remove cluster.file)");
    }
    const runtime::local::LocalOverrides overrides{experiment_.gpus, experiment_.cpu,
                                                   experiment_.mem_gib};
    Result<NodeSpec> node = runtime::local::LocalNode(runtime::local::DetectMachine(), overrides);
    if (!node) return InvalidSpec(path + ": " + node.error().message());
    nodes_.push_back(std::move(node).value());
    plan = MakePlan(experiment_, nodes_, roles::CountingPorts());
  }
  if (!plan) return plan.error().WithPrefix(path + ": ");
  for (const std::string& w : plan->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  planned_workers_ = plan->workers;
  planned_groups_ = plan->comm_groups;
  DrawMap(*plan);
  if (slurm_) BERTH_RETURN_IF_ERROR(Allocate(*plan));
  std::map<std::string, int> restarts;
  for (const formats::WorkerRecord& w : state_.workers) restarts[w.id] = w.restarts;
  state_.workers.clear();
  for (const WorkerPlan& w : plan->workers) {
    formats::WorkerRecord rec;
    rec.id = w.id;
    rec.role = w.role;
    rec.index = w.index;
    rec.node = w.node;
    rec.gpus = Devices(w);
    rec.restarts = restarts[w.id];
    state_.workers.push_back(std::move(rec));
  }
  return Status::Ok();
}

Status Run::StartScheduler() {
  SchedulerOptions so;
  so.nodes = nodes_;
  so.expected_roles = experiment_.roles;
  so.log_dir = state_.run_dir + "/logs";
  so.merged_log = state_.run_dir + "/merged.log";
  so.log_root = state_.run_dir;  // nothing in it is followed when a log is opened
  so.grace = milliseconds(static_cast<int64_t>(options_.grace_s * 1000));
  so.on_event = [this](const SchedulerEvent& e) { OnEvent(e); };
  so.comm_groups = experiment_.comm_groups;
  so.planned_workers = planned_workers_;
  so.planned_comm_groups = planned_groups_;
  so.on_comm_group = [this](const CommGroup& g) { OnCommGroup(g); };
  so.interrupted = [this] { return Stopping(); };
  so.clock = &clock_;
  so.probe = probe_;
  if (slurm_) {
    UseSlurmSteps(so);
  } else {
    so.gpu_release_wait = scheduler::kGpuReleaseLimit;
  }
  ProcessLauncher* launcher = launcher_.get();  // the Scheduler's from here on
  BERTH_ASSIGN_OR_RETURN(scheduler_, Scheduler::Start(std::move(so), std::move(launcher_)));
  // A control API call wakes the watch loop's wait for exits. (The mailbox
  // is closed before the Scheduler goes, in ~Run.)
  mailbox_.SetWake([launcher] { launcher->Wake(); });
  recovery_ = std::make_unique<Recovery>(*scheduler_, clock_,
                                         [this](const RecoveryEvent& e) { OnRecovery(e); });
  BERTH_ASSIGN_OR_RETURN(events_, EventsLog::Open(run_dir_->fd(), state_.run_dir));
  return Status::Ok();
}

void Run::AppendEvent(const nlohmann::ordered_json& event) {
  if (events_) {
    Status st = events_->Append(event);
    if (!st.ok()) std::fprintf(stderr, "berth: %s\n", st.message().c_str());
  }
  feed_.Append(event);
}

void Run::OnRecovery(const RecoveryEvent& e) {
  AppendEvent(EventJson(e, UtcNow()));
  formats::WorkerRecord* rec = Record(e.worker);
  switch (e.kind) {
    case RecoveryEvent::Kind::kFailed:
      std::printf("worker %s failed: %s\n", e.worker.c_str(), e.cause.c_str());
      break;
    case RecoveryEvent::Kind::kRestartIn:
      std::printf("  restarting the unit of %s in %g s (restart %d)\n", e.worker.c_str(), e.wait_s,
                  e.restarts);
      break;
    case RecoveryEvent::Kind::kRestarted:
      std::printf("  the unit of %s is ready again (restart %d)\n", e.worker.c_str(), e.restarts);
      break;
    case RecoveryEvent::Kind::kRestartFailed:
      std::printf("  the restart of %s failed: %s\n", e.worker.c_str(), e.cause.c_str());
      break;
    case RecoveryEvent::Kind::kDropped:
      std::printf("  dropped the unit of %s: %s\n", e.worker.c_str(), e.cause.c_str());
      if (rec != nullptr) rec->exit += rec->exit.empty() ? "dropped" : "; dropped";
      break;
    case RecoveryEvent::Kind::kGivenUp:
      break;  // the run's failure says it
  }
  std::fflush(stdout);
  table_lines_ = 0;  // the table is no longer right above the cursor
  Save();
}

formats::WorkerRecord* Run::Record(const std::string& id) {
  for (formats::WorkerRecord& w : state_.workers) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

void Run::OnEvent(const SchedulerEvent& e) {
  if (e.kind == SchedulerEvent::Kind::kPortConflict) {
    std::printf("  port conflict in %s (%s taken meanwhile); starting it again with new ports\n",
                e.worker.c_str(), e.detail.c_str());
    std::fflush(stdout);
    return;
  }
  formats::WorkerRecord* rec = Record(e.worker);
  if (rec == nullptr && e.kind == SchedulerEvent::Kind::kStarted && scheduler_) {
    // A worker of a role created through the control API: not in the plan.
    if (const Worker* w = scheduler_->FindWorker(e.worker)) {
      formats::WorkerRecord added;
      added.id = w->plan.id;
      added.role = w->plan.role;
      added.index = w->plan.index;
      state_.workers.push_back(std::move(added));
      rec = &state_.workers.back();
    }
  }
  if (rec == nullptr) return;
  switch (e.kind) {
    case SchedulerEvent::Kind::kStarted:
      if (const Worker* w = scheduler_ ? scheduler_->FindWorker(e.worker) : nullptr) {
        rec->pid = w->pid;
        rec->node = w->plan.node;
        rec->gpus = Devices(w->plan);
        rec->ports = w->plan.ports;
        rec->log = w->log_path;
        rec->restarts = w->restarts;  // every start after the first, for any reason
      }
      started_[rec->id] = std::chrono::system_clock::now();
      rec->state = formats::WorkerState::kStarting;
      rec->exit.clear();
      break;
    case SchedulerEvent::Kind::kReady:
      rec->state = formats::WorkerState::kReady;
      std::printf("  ready  %-16s pid %-7d %.2f s\n", e.worker.c_str(), rec->pid, e.seconds);
      std::fflush(stdout);
      // At most four times a second: each save writes every worker's record.
      if (clock_.Now() - last_save_ > milliseconds(250)) Save();
      break;
    case SchedulerEvent::Kind::kExited:
      break;  // Watch reports it
    case SchedulerEvent::Kind::kStopped:
      if (rec->state != formats::WorkerState::kFailed &&
          rec->state != formats::WorkerState::kExited) {
        rec->state = formats::WorkerState::kStopped;
      }
      if (rec->exit.empty()) rec->exit = e.detail;
      break;
    case SchedulerEvent::Kind::kPortConflict:
      break;
  }
}

void Run::Save() {
  last_save_ = clock_.Now();
  Status s = formats::WriteState(state_, run_dir_ ? run_dir_->fd() : -1);
  if (!s.ok()) std::fprintf(stderr, "berth: %s\n", s.message().c_str());
  Publish();
}

void Run::Fail(int code, const std::string& message) {
  std::fprintf(stderr, "berth: %s\n", message.c_str());
  state_.phase = "failed";
  state_.message = message;
  exit_code_ = code;
}

// On a terminal the table is redrawn in place; into a file or a pipe it is
// printed once, and changes are printed as lines.
void Run::ShowTable(bool redraw) {
  if (!options_.status_table) return;
  if (redraw && (table_lines_ == 0 || (::isatty(STDOUT_FILENO) == 0))) return;
  const std::string table = formats::RenderTable(state_);
  if (redraw) std::printf("\x1b[%zuA\x1b[J", table_lines_);
  std::fputs(table.c_str(), stdout);
  std::fflush(stdout);
  table_lines_ = static_cast<size_t>(std::count(table.begin(), table.end(), '\n'));
}

int Run::Watch() {
  state_.phase = "running";
  Save();
  if (options_.status_table) {
    std::printf("\nrunning; run dir %s (berth status %s; Ctrl-C or berth down to stop)\n",
                state_.run_dir.c_str(), state_.run_dir.c_str());
  }
  ShowTable(false);
  Clock::TimePoint next_draw = clock_.Now() + std::chrono::seconds(1);
  while (!Stopping()) {
    if (clock_.Now() >= next_draw) {
      ShowTable(true);
      next_draw = clock_.Now() + std::chrono::seconds(1);
    }
    // Short waits: a stop signal is noticed here, not inside the wait.
    Result<std::vector<Worker>> exits = scheduler_->WaitExits(milliseconds(20));
    if (!exits) {
      Fail(1, "the process supervisor is gone: " + exits.error().message());
      return exit_code_;
    }
    if (std::optional<int> code = HandleExits(*exits)) return *code;
    if (Status st = recovery_->RunDue(); !st.ok()) {
      const std::optional<WorkerFailure>& f = scheduler_->last_failure();
      Fail(f ? f->exit_code : 1, st.message());
      return exit_code_;
    }
    if (std::optional<int> code = CheckSlurmNodes()) return *code;
    // Control API calls, one at a time, between two waits.
    if (mailbox_.Drain() > 0) {
      if (std::optional<int> code = HandleExits(EndedUnhandled())) return *code;
    }
  }
  if (stop_->signal_number() != 0) {
    std::printf("stopping (signal %d)\n", stop_->signal_number());
  } else {
    std::printf("stopping (berth down through the control API)\n");
  }
  return 0;
}

// A worker that exits 0 ends the run once no worker runs any more (every
// worker done); workers deleted through the control API do not count, so a
// run whose roles were all deleted waits for `berth down`. Any other exit
// (or a Slurm job that ended) stops the run with the worker's code.
std::optional<int> Run::HandleExits(const std::vector<Worker>& exits) {
  bool clean_exit = false;
  for (const Worker& w : exits) {
    formats::WorkerRecord* rec = Record(w.plan.id);
    if (rec == nullptr) continue;
    // Handled already (seen after an API call, then reported by WaitExits).
    if (rec->state != formats::WorkerState::kStarting && rec->state != formats::WorkerState::kReady)
      continue;
    rec->exit = w.exit;
    // Its node went silent while the job runs on: every unit on that node
    // follows its role's policy (the record is marked lost).
    if (std::optional<milliseconds> quiet = alloc_ ? LostWithItsNode(w) : std::nullopt) {
      if (std::optional<int> code = NodesLost({{w.plan.node, *quiet}})) return code;
      continue;
    }
    // On Slurm a step also ends when Slurm ends the job (a node failed,
    // scancel, the time limit): srun then often exits 0.
    const std::string slurm_failure = alloc_ ? SlurmFailure(w) : std::string();
    if (w.exit_status == 0 && slurm_failure.empty()) {
      rec->state = formats::WorkerState::kExited;
      std::printf("worker %s %s\n", w.plan.id.c_str(), w.exit.c_str());
      table_lines_ = 0;  // the table is no longer right above the cursor
      Save();
      clean_exit = true;
      continue;
    }
    rec->state = formats::WorkerState::kFailed;
    if (!slurm_failure.empty()) {
      // The step ended with the job or its node: that is the cause, not the
      // exit code of srun (0 after a node failure). The record's exit is set.
      Fail(w.exit_status != 0 ? w.exit_status : 1, slurm_failure + "; last lines of " + w.log_path +
                                                       ":\n" + common::LogTail(w.log_path, 50));
      return exit_code_;
    }
    // The role's on_failure: a restart after its backoff, or a drop.
    Result<bool> handled = recovery_->OnExit(w);
    if (handled && *handled) continue;
    const std::string slurm_note =
        alloc_ ? " (its step; Slurm job " + alloc_->job_id() + " still runs)" : std::string();
    const std::string what =
        handled ? "worker " + w.plan.id + " " + w.exit + slurm_note : handled.error().message();
    Fail(w.exit_status != 0 ? w.exit_status : 1,
         what + "; last lines of " + w.log_path + ":\n" + common::LogTail(w.log_path, 50));
    return exit_code_;
  }
  // A unit waiting for its restart is not done.
  if (clean_exit && !recovery_->NextDue()) {
    for (const Worker& w : scheduler_->Workers()) {
      if (w.phase == WorkerPhase::kStarting || w.phase == WorkerPhase::kReady) return std::nullopt;
    }
    return 0;
  }
  return std::nullopt;
}

std::vector<Worker> Run::EndedUnhandled() {
  std::vector<Worker> ended;
  for (const Worker& w : scheduler_->Workers()) {
    if (w.phase != WorkerPhase::kExited && w.phase != WorkerPhase::kFailed) continue;
    const formats::WorkerRecord* rec = Record(w.plan.id);
    if (rec != nullptr && (rec->state == formats::WorkerState::kStarting ||
                           rec->state == formats::WorkerState::kReady)) {
      ended.push_back(w);
    }
  }
  return ended;
}

// Starts every role in launch order; false when one failed (reported).
bool Run::StartRoles() {
  // NOLINTNEXTLINE(readability-use-anyofallof): it starts roles and prints; not a predicate
  for (const RoleSpec* role : launch_order_) {
    if (role->colocation && !role->colocation->fork) {
      std::printf("%s: an alias of %s (colocation without fork)\n", role->name.c_str(),
                  role->colocation->target.c_str());
    } else {
      std::printf("starting %s: %d worker(s)\n", role->name.c_str(), role->replicas);
    }
    std::fflush(stdout);
    Result<std::vector<std::string>> ids = scheduler_->CreateWorkers(*role);
    if (!ids) {
      if (!Stopping()) {
        if (const auto& f = scheduler_->last_failure()) {
          if (formats::WorkerRecord* rec = Record(f->worker)) {
            rec->state = formats::WorkerState::kFailed;
            rec->exit = f->description;
          }
        }
        Fail(ExitCodeFor(ids.error(), *scheduler_), placement::ErrorText(ids.error()));
      }
      return false;
    }
    Save();
  }
  return true;
}

int Run::Main() {
  Status loaded = Load();
  if (!loaded.ok()) {
    StopControl("berth stopped: " + loaded.message());
    std::fprintf(stderr, "%s\n", placement::ErrorText(loaded).c_str());
    switch (loaded.code()) {
      case ErrorCode::kInfeasible:
      case ErrorCode::kUnavailable:
        return 3;
      case ErrorCode::kInvalidSpec:
      case ErrorCode::kNotFound:
        return 2;
      default:
        return 1;
    }
  }
  Save();
  std::printf("berth run %s: %zu worker(s), run dir %s\n", experiment_.name.c_str(),
              state_.workers.size(), state_.run_dir.c_str());
  int code = 0;
  for (int replaced = 0;; ++replaced) {
    node_failed_ = false;
    const bool ok = StartRoles();
    code = ok ? Watch() : (Stopping() ? 0 : exit_code_);
    const std::optional<int> most = WholeRestartsAllowed();
    if (!node_failed_ || Stopping() || !most || replaced >= *most) break;
    std::printf(
        "Slurm ended the whole job with the node, and every role's on_failure is restart: "
        "re-placing the experiment on the nodes left (restart %d of %d, the smallest "
        "restart.max_restarts of the roles)\n",
        replaced + 1, *most);
    std::fflush(stdout);
    if (!Replace()) {
      code = exit_code_;
      break;
    }
  }
  if (state_.phase != "failed") state_.phase = "stopping";
  Save();
  // Requests still queued get a 503; status keeps being served until the end.
  mailbox_.Close("berth is stopping (phase " + state_.phase + ")");
  Status s = scheduler_->DeleteWorkers();
  if (!s.ok()) std::fprintf(stderr, "berth: stopping: %s\n", s.message().c_str());
  EndSlurmJob();
  if (state_.phase != "failed") state_.phase = "stopped";
  Save();
  StopControl("berth stopped");
  std::printf("stopped; logs in %s/logs, merged log %s/merged.log\n", state_.run_dir.c_str(),
              state_.run_dir.c_str());
  return code;
}

int RunExperiment(const RunOptions& options) {
  // The supervisor starts first, while berth has a single thread. It is the
  // berth-supervisor program beside berth when there is one: every worker
  // is a fork of the supervisor, and forking a small image (and tearing it
  // down again at exec) is cheaper than forking berth's, with its HTTP,
  // YAML and Slurm code mapped. Without one, a fork of berth does the same.
  SupervisorOptions supervisor;
  supervisor.exec_path = SupervisorBesideBerth();
  const char* cgroup_env = std::getenv("BERTH_CGROUP");
  const bool cgroup_off = cgroup_env != nullptr && std::string_view(cgroup_env) == "off";
  supervisor.own_cgroup = !cgroup_off;
  Result<std::unique_ptr<ProcessSupervisor>> sup = ProcessSupervisor::Start(supervisor);
  if (!sup) {
    std::fprintf(stderr, "berth run: cannot start the process supervisor: %s\n",
                 sup.error().message().c_str());
    return 1;
  }
  const std::string cgroup = (*sup)->cgroup();
  const std::string no_cgroup = cgroup_off ? "BERTH_CGROUP=off" : (*sup)->cgroup_unavailable();
  // After the supervisor started (it must not inherit the blocked signals),
  // before any thread does.
  auto stop = std::make_unique<StopRequest>();
  if (Status listening = stop->ListenForSignals(); !listening.ok()) {
    std::fprintf(stderr, "berth run: %s\n", listening.message().c_str());
    return 1;
  }
  Run run(options, RunSeams{.launcher = std::move(sup).value(),
                            .stop = std::move(stop),
                            .cgroup = cgroup,
                            .no_cgroup = no_cgroup});
  return run.Main();
}

}  // namespace berth::run
