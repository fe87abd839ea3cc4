#include "run/runner.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/process.h"
#include "berth/scheduler.h"
#include "cluster/local_node.h"
#include "io/place_json.h"
#include "io/read_file.h"
#include "roles/ports.h"
#include "run/control_client.h"
#include "run/control_server.h"
#include "run/run_state.h"
#include "runtime/slurm/allocation.h"
#include "scheduler/worker_json.h"

namespace berth::run {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal.store(sig); }
// POST /v1/down: the same teardown as a stop signal.
std::atomic<bool> g_down_requested{false};
bool Stopping() { return g_stop_signal.load() != 0 || g_down_requested.load(); }

std::string DefaultRunDir(const std::string& name) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "berth-runs/" + name + "-" + stamp + "-" + std::to_string(getpid());
}

std::string DeviceList(const std::vector<GpuShare>& gpus) {
  std::string s;
  for (const GpuShare& g : gpus) s += (s.empty() ? "" : ",") + std::to_string(g.device);
  return s;
}

// Exit code of `berth run` for an error of the Scheduler.
int ExitCodeFor(const Status& s, const Scheduler& scheduler) {
  switch (s.code()) {
    case ErrorCode::kWorkerFailed:
    case ErrorCode::kTimeout:
      return scheduler.last_failure() ? scheduler.last_failure()->exit_code : 1;
    case ErrorCode::kInfeasible:
    case ErrorCode::kUnavailable: return 3;
    case ErrorCode::kInvalidSpec:
    case ErrorCode::kNotFound: return 2;
    default: return 1;
  }
}

// The control API's endpoints are Run's: status and roles from a snapshot
// taken wherever the state is saved, the rest queued to the main thread
// (the Scheduler's only thread), which runs them between two waits of Watch.
class Run : private ControlHandlers {
 public:
  Run(const RunOptions& options, std::unique_ptr<ProcessSupervisor> sup)
      : options_(options), sup_(std::move(sup)) {}
  // The mailbox first: the server's threads may be waiting on it.
  ~Run() override {
    mailbox_.Close("berth is stopping");
    control_.Stop();
  }

  int Main();

 private:
  // ControlHandlers, on the server's threads.
  ControlReply GetStatus() override;
  ControlReply ListRoles() override;
  ControlReply GetWorkers(const std::string& role, double timeout_s) override;
  ControlReply CreateRole(const RoleSpec& role) override;
  ControlReply ForkRole(const std::string& role, const std::string& target,
                        const std::vector<std::string>& command) override;
  ControlReply DeleteRole(const std::string& role) override;
  ControlReply Down() override;
  // Why a queued request waits, for its 503.
  std::string BusyReason();
  // On the main thread: the end of a create or fork call.
  ControlReply Created(const std::string& role, Result<std::vector<std::string>> ids);
  void StartControl();
  void StopControl(const std::string& why);
  // state_ -> the snapshot the control API serves.
  void Publish();
  // Exits of running workers: nullopt to go on, else berth run's exit code.
  std::optional<int> HandleExits(const std::vector<Worker>& exits);
  // Workers that ended while an API call waited (get_workers answers an exit
  // it sees itself), not yet handled.
  std::vector<Worker> EndedUnhandled();
  Status Load();
  Status PlanAndAdmit();
  Status StartScheduler();
  bool StartRoles();
  // After a node failure on Slurm: everything down, planned again on the
  // nodes left, a new job, the roles started again. False when it could not.
  bool Replace();
  Status Allocate(const Plan& plan);
  std::string Devices(const WorkerPlan& w) const;
  std::string SlurmFailure();
  void OnEvent(const SchedulerEvent& e);
  int Watch();
  void Fail(int code, const std::string& message);
  void Save();
  WorkerRecord* Record(const std::string& id);
  void ShowTable(bool redraw);

  RunOptions options_;
  std::unique_ptr<ProcessSupervisor> sup_;  // until the Scheduler takes it
  std::unique_ptr<Scheduler> scheduler_;
  ExperimentSpec experiment_;
  std::vector<NodeSpec> nodes_;
  bool slurm_ = false;
  bool node_failed_ = false;  // the last failure was the Slurm job's NODE_FAIL
  Clock::time_point last_save_;
  std::unique_ptr<slurm::Allocation> alloc_;  // backend slurm, once submitted
  std::vector<const RoleSpec*> launch_order_;
  RunState state_;
  int exit_code_ = 0;
  size_t table_lines_ = 0;  // lines of the table last drawn, for a redraw

  std::mutex snapshot_mu_;
  RunState snapshot_;                   // guarded by snapshot_mu_
  std::vector<std::string> roles_now_;  // guarded by snapshot_mu_
  ControlMailbox mailbox_{[this] { return BusyReason(); }};
  ControlServer control_;
};

Status Run::Load() {
  const std::string& path = options_.experiment_path;
  BERTH_ASSIGN_OR_RETURN(std::string text, io::ReadFile(path));
  BERTH_ASSIGN_OR_RETURN(experiment_, ParseExperiment(text, path));
  if (!options_.backend.empty() && options_.backend != "local" && options_.backend != "slurm") {
    return InvalidSpec("--backend: \"" + options_.backend +
                       "\" is not a backend; use local or slurm");
  }
  slurm_ = options_.backend.empty() ? experiment_.backend == Backend::kSlurm
                                    : options_.backend == "slurm";
  for (int pass = 0; pass < 2; ++pass) {
    for (const RoleSpec& r : experiment_.roles) {
      if (r.colocation.has_value() == (pass == 1)) launch_order_.push_back(&r);
    }
  }
  state_.experiment = experiment_.name;
  state_.run_dir = !options_.run_dir.empty()       ? options_.run_dir
                   : !experiment_.run_dir.empty() ? experiment_.run_dir
                                                   : DefaultRunDir(experiment_.name);
  state_.berth_pid = getpid();
  state_.phase = "starting";
  std::error_code ec;
  std::filesystem::create_directories(state_.run_dir + "/logs", ec);
  if (ec) return BackendError(state_.run_dir + ": cannot create: " + ec.message());
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
  if (slurm_) {
    std::vector<std::string> skipped;
    Result<std::vector<NodeSpec>> nodes = slurm::ReadCluster(experiment_.slurm.partition, &skipped);
    if (!nodes) return Status(nodes.error().code(), path + ": " + nodes.error().message());
    for (const std::string& s : skipped) std::fprintf(stderr, "warning: slurm node left out: %s\n", s.c_str());
    nodes_ = std::move(nodes).value();
    if (nodes_.empty()) return Unavailable(path + ": Slurm has no usable node");
  } else {
    if (experiment_.cluster_file) {
      // A cluster file is for planning; running needs the nodes to be here.
      return InvalidSpec(path + ": cluster.file " + *experiment_.cluster_file +
                         " describes other machines; `berth run` runs on this machine (use "
                         "`berth plan` for a multi-node cluster, or remove cluster.file)");
    }
    const cluster::LocalOverrides overrides{experiment_.gpus, experiment_.cpu,
                                            experiment_.mem_gib};
    Result<NodeSpec> node = cluster::LocalNode(cluster::DetectMachine(), overrides);
    if (!node) return InvalidSpec(path + ": " + node.error().message());
    nodes_.push_back(std::move(node).value());
  }
  Result<Plan> plan = MakePlan(experiment_, nodes_, roles::CountingPorts());
  if (!plan && slurm_ && (plan.error().code() == ErrorCode::kInfeasible ||
                          plan.error().code() == ErrorCode::kUnavailable)) {
    // Not on what is free now: if it fits the nodes as they are when empty,
    // ask Slurm for it and let the job wait in the queue (its reason shown,
    // bounded by slurm.queue_timeout) until other jobs release those nodes.
    Result<std::vector<NodeSpec>> whole =
        slurm::ReadCluster(experiment_.slurm.partition, nullptr, /*free_only=*/false);
    if (whole) {
      Result<Plan> later = MakePlan(experiment_, *whole, roles::CountingPorts());
      if (later) {
        std::printf("the experiment does not fit what Slurm has free now; it fits the nodes "
                    "when other jobs end, so berth submits it to wait in the queue\n");
        nodes_ = std::move(whole).value();
        plan = std::move(later);
      }
    }
  }
  if (!plan) return Status(plan.error().code(), path + ": " + plan.error().message());
  for (const std::string& w : plan->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  if (slurm_) BERTH_RETURN_IF_ERROR(Allocate(*plan));
  std::map<std::string, int> restarts;
  for (const WorkerRecord& w : state_.workers) restarts[w.id] = w.restarts;
  state_.workers.clear();
  for (const WorkerPlan& w : plan->workers) {
    WorkerRecord rec;
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
  so.grace = milliseconds(static_cast<int64_t>(options_.grace_s * 1000));
  so.on_event = [this](const SchedulerEvent& e) { OnEvent(e); };
  so.interrupted = [] { return Stopping(); };
  if (slurm_) {
    so.wrap_launch = [this](const WorkerPlan& w, LaunchSpec spec) -> Result<LaunchSpec> {
      std::vector<int> devices;
      for (const GpuShare& g : w.gpus) devices.push_back(g.device);
      spec.argv = slurm::StepArgv(alloc_->job_id(), alloc_->component(w.node), w.node, w.id,
                                  slurm::Positions(devices, alloc_->planned_gpus(w.node)),
                                  spec.argv);
      return spec;
    };
    so.before_stop = [this](const std::vector<WorkerPlan>& stage) {
      std::vector<std::string> names;
      for (const WorkerPlan& w : stage) names.push_back(w.id);
      Status st = alloc_->SignalSteps(names, "TERM");
      if (!st.ok()) std::fprintf(stderr, "berth: signalling steps: %s\n", st.message().c_str());
    };
    // Ports of other machines cannot be tested from here: count them per
    // node from a random base (a clash is retried with new ones).
    if (!roles::AllOnLoopback(nodes_)) so.ports = roles::CountingPorts(20000 + static_cast<int>(getpid() % 10000));
  }
  BERTH_ASSIGN_OR_RETURN(scheduler_, Scheduler::Start(std::move(so), std::move(sup_)));
  return Status::Ok();
}

// Submits the job that holds the whole experiment and waits until it runs.
Status Run::Allocate(const Plan& plan) {
  std::vector<slurm::NodeRequest> nodes = slurm::NodeRequests(plan);
  std::printf("submitting one Slurm job for %zu worker(s) on %zu node(s)\n", plan.workers.size(),
              nodes.size());
  std::fflush(stdout);
  Result<slurm::Allocation> alloc = slurm::Allocation::Submit(
      "berth-" + experiment_.name, experiment_.slurm.partition, std::move(nodes), state_.run_dir);
  if (!alloc) return alloc.error();
  alloc_ = std::make_unique<slurm::Allocation>(std::move(alloc).value());
  state_.message = "Slurm job " + alloc_->job_id();
  Save();
  Status running = alloc_->WaitRunning(
      milliseconds(static_cast<int64_t>(experiment_.slurm.queue_timeout_s * 1000)),
      [this](const std::string& why) {
        std::printf("  Slurm job %s is %s; berth starts the workers once it runs (timeout %g s)\n",
                    alloc_->job_id().c_str(), why.c_str(), experiment_.slurm.queue_timeout_s);
        std::fflush(stdout);
      },
      [] { return Stopping(); });
  if (!running.ok()) {
    Status c = alloc_->Cancel();
    if (!c.ok()) std::fprintf(stderr, "berth: %s\n", c.message().c_str());
    return running;
  }
  std::printf("  Slurm job %s runs\n", alloc_->job_id().c_str());
  return Status::Ok();
}

// Empty while the Slurm job runs; else what Slurm did to it, and which
// workers stood on the nodes that failed (the job is one allocation: Slurm
// ends all of it, and berth reports every gang on a failed node as failed).
std::string Run::SlurmFailure() {
  Result<slurm::SlurmJob> job = alloc_->Query();
  // A cancelled job is COMPLETING for a moment before Slurm says why it ended.
  for (int i = 0; i < 40 && job && job->state == slurm::JobState::kCompleting; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    job = alloc_->Query();
  }
  if (!job) return " (Slurm job " + alloc_->job_id() + ": " + job.error().message() + ")";
  if (job->state == slurm::JobState::kRunning) return {};
  std::string out = " (Slurm job " + alloc_->job_id() + " is " + job->state_text +
                    (job->reason.empty() ? "" : ", " + job->reason);
  if (job->state == slurm::JobState::kNodeFail) {
    node_failed_ = true;
    std::vector<std::string> skipped;
    (void)slurm::ReadCluster("", &skipped);
    for (const std::string& line : skipped) {
      const std::string node = line.substr(0, line.find(':'));
      std::string on_it;
      for (const WorkerRecord& w : state_.workers) {
        if (w.node == node) on_it += (on_it.empty() ? "" : ", ") + w.id;
      }
      if (!on_it.empty()) out += "; node " + line + "; failed with it: " + on_it;
    }
  }
  return out + ")";
}

// The devices a worker sees, as CUDA_VISIBLE_DEVICES lists them: the plan's,
// or on Slurm the ones Slurm granted in their place.
std::string Run::Devices(const WorkerPlan& w) const {
  if (!alloc_) return DeviceList(w.gpus);
  std::vector<int> devices;
  for (const GpuShare& g : w.gpus) devices.push_back(g.device);
  const std::vector<int>& granted = alloc_->granted_gpus(w.node);
  std::string s;
  for (int p : slurm::Positions(devices, alloc_->planned_gpus(w.node))) {
    if (p < static_cast<int>(granted.size())) s += (s.empty() ? "" : ",") + std::to_string(granted[p]);
  }
  return s;
}

WorkerRecord* Run::Record(const std::string& id) {
  for (WorkerRecord& w : state_.workers) {
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
  WorkerRecord* rec = Record(e.worker);
  if (rec == nullptr && e.kind == SchedulerEvent::Kind::kStarted && scheduler_) {
    // A worker of a role created through the control API: not in the plan.
    if (const Worker* w = scheduler_->FindWorker(e.worker)) {
      WorkerRecord added;
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
      rec->state = WorkerState::kStarting;
      rec->exit.clear();
      break;
    case SchedulerEvent::Kind::kReady:
      rec->state = WorkerState::kReady;
      std::printf("  ready  %-16s pid %-7d %.2f s\n", e.worker.c_str(), rec->pid, e.seconds);
      std::fflush(stdout);
      // At most four times a second: each save writes every worker's record.
      if (Clock::now() - last_save_ > milliseconds(250)) Save();
      break;
    case SchedulerEvent::Kind::kExited: break;  // Watch reports it
    case SchedulerEvent::Kind::kStopped:
      if (rec->state != WorkerState::kFailed && rec->state != WorkerState::kExited) {
        rec->state = WorkerState::kStopped;
      }
      if (rec->exit.empty()) rec->exit = e.detail;
      break;
    case SchedulerEvent::Kind::kPortConflict: break;
  }
}

void Run::Save() {
  last_save_ = Clock::now();
  Status s = WriteState(state_);
  if (!s.ok()) std::fprintf(stderr, "berth: %s\n", s.message().c_str());
  Publish();
}

void Run::Publish() {
  std::vector<std::string> roles = scheduler_ ? scheduler_->Roles() : std::vector<std::string>{};
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  snapshot_ = state_;
  roles_now_ = std::move(roles);
}

// --- the control API ---

void Run::StartControl() {
  Publish();  // what GET /v1/status shows before the first save
  Status st = control_.Start(state_.run_dir, this);
  if (!st.ok()) {
    // The run does not need it: berth status and berth down fall back to
    // state.json and a signal.
    std::fprintf(stderr,
                 "warning: the control API did not start (%s); berth status and berth down "
                 "use state.json and SIGTERM instead\n",
                 st.message().c_str());
  }
}

void Run::StopControl(const std::string& why) {
  mailbox_.Close(why);
  control_.Stop();
}

std::string Run::BusyReason() {
  std::string phase;
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    phase = snapshot_.phase;
  }
  if (phase == "starting") {
    return "berth is still starting the experiment's roles; calls that start, stop or wait for "
           "workers run once berth status shows phase running";
  }
  if (phase == "running") {
    return "berth was busy with earlier calls (create, fork, delete and get workers run one at "
           "a time)";
  }
  return "berth is " + (phase.empty() ? std::string("busy") : phase);
}

ControlReply Run::GetStatus() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return ControlReply{200, RunStateJson(snapshot_)};
}

ControlReply Run::ListRoles() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  nlohmann::ordered_json body;
  body["roles"] = roles_now_;
  return ControlReply{200, body};
}

namespace {

ControlReply StoppingReply() {
  return ErrorReply(Unavailable("berth is stopping; nothing was done"), std::nullopt, 503);
}

milliseconds Seconds(double s) { return milliseconds(static_cast<int64_t>(s * 1000)); }

// How long a call may wait for the main thread before it gets a 503: its
// own timeout and 30 s.
constexpr double kQueueSlackS = 30;

}  // namespace

ControlReply Run::GetWorkers(const std::string& role, double timeout_s) {
  return mailbox_.Call(
      [this, role, timeout_s]() -> ControlReply {
        if (Stopping()) return StoppingReply();
        Result<std::vector<Worker>> workers = scheduler_->GetWorkers(role, Seconds(timeout_s));
        if (!workers) return ErrorReply(workers.error(), scheduler_->last_failure());
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const Worker& w : *workers) list.push_back(scheduler::WorkerJson(w));
        nlohmann::ordered_json body;
        body["workers"] = list;
        return ControlReply{200, body};
      },
      Seconds(timeout_s + kQueueSlackS));
}

ControlReply Run::Created(const std::string& role, Result<std::vector<std::string>> ids) {
  if (!ids) {
    // All or nothing: the Scheduler rolled the role back, and the state
    // forgets the workers it started for it.
    std::printf("control API: %s not created: %s\n", role.c_str(),
                ids.error().message().substr(0, ids.error().message().find('\n')).c_str());
    state_.workers.erase(
        std::remove_if(state_.workers.begin(), state_.workers.end(),
                       [&](const WorkerRecord& w) {
                         return w.role == role && w.state != WorkerState::kStarting &&
                                w.state != WorkerState::kReady;
                       }),
        state_.workers.end());
    Save();
    std::fflush(stdout);
    table_lines_ = 0;
    return ErrorReply(ids.error(), scheduler_->last_failure());
  }
  Save();
  ShowTable(false);
  nlohmann::ordered_json body;
  body["ids"] = *ids;
  return ControlReply{200, body};
}

ControlReply Run::CreateRole(const RoleSpec& role) {
  return mailbox_.Call(
      [this, role]() -> ControlReply {
        if (Stopping()) return StoppingReply();
        std::printf("control API: starting %s: %d worker(s)\n", role.name.c_str(), role.replicas);
        std::fflush(stdout);
        return Created(role.name, scheduler_->CreateWorkers(role));
      },
      Seconds(role.startup_timeout_s + kQueueSlackS));
}

ControlReply Run::ForkRole(const std::string& role, const std::string& target,
                           const std::vector<std::string>& command) {
  return mailbox_.Call(
      [this, role, target, command]() -> ControlReply {
        if (Stopping()) return StoppingReply();
        std::printf("control API: forking %s onto %s\n", role.c_str(), target.c_str());
        std::fflush(stdout);
        return Created(role, scheduler_->ForkWorkers(role, target, command));
      },
      Seconds(30 + kQueueSlackS));  // the target's startup timeout is not known here
}

ControlReply Run::DeleteRole(const std::string& role) {
  return mailbox_.Call(
      [this, role]() -> ControlReply {
        if (Stopping()) return StoppingReply();
        const std::vector<std::string> before = scheduler_->Roles();
        Status st = scheduler_->DeleteWorkers(role);
        const std::vector<std::string> after = scheduler_->Roles();
        // In the order they were stopped: what was colocated on the role
        // (newest first), then the role.
        std::vector<std::string> deleted;
        for (auto r = before.rbegin(); r != before.rend(); ++r) {
          if (*r != role && std::find(after.begin(), after.end(), *r) == after.end()) {
            deleted.push_back(*r);
          }
        }
        if (std::find(before.begin(), before.end(), role) != before.end() &&
            std::find(after.begin(), after.end(), role) == after.end()) {
          deleted.push_back(role);
        }
        if (!deleted.empty()) {
          std::string names;
          for (const std::string& r : deleted) names += (names.empty() ? "" : ", ") + r;
          std::printf("control API: deleted %s\n", names.c_str());
          Save();
          ShowTable(false);
        }
        if (!st.ok()) return ErrorReply(st);
        nlohmann::ordered_json body;
        body["deleted"] = role;
        body["roles_deleted"] = deleted;
        return ControlReply{200, body};
      },
      Seconds(kQueueSlackS));
}

ControlReply Run::Down() {
  g_down_requested.store(true);
  nlohmann::ordered_json body;
  body["stopping"] = true;
  return ControlReply{200, body};
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
  if (redraw && (table_lines_ == 0 || !::isatty(STDOUT_FILENO))) return;
  const std::string table = RenderTable(state_);
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
  auto next_draw = Clock::now() + std::chrono::seconds(1);
  while (!Stopping()) {
    if (Clock::now() >= next_draw) {
      ShowTable(true);
      next_draw = Clock::now() + std::chrono::seconds(1);
    }
    // Short waits: a stop signal is noticed here, not inside the wait.
    Result<std::vector<Worker>> exits = scheduler_->WaitExits(milliseconds(20));
    if (!exits) {
      Fail(1, "the process supervisor is gone: " + exits.error().message());
      return exit_code_;
    }
    if (std::optional<int> code = HandleExits(*exits)) return *code;
    // Control API calls, one at a time, between two waits.
    if (mailbox_.Drain() > 0) {
      if (std::optional<int> code = HandleExits(EndedUnhandled())) return *code;
    }
  }
  if (g_stop_signal.load() != 0) {
    std::printf("stopping (signal %d)\n", g_stop_signal.load());
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
    WorkerRecord* rec = Record(w.plan.id);
    if (rec == nullptr) continue;
    // Handled already (seen after an API call, then reported by WaitExits).
    if (rec->state != WorkerState::kStarting && rec->state != WorkerState::kReady) continue;
    rec->exit = w.exit;
    // On Slurm a step also ends when Slurm ends the job (a node failed,
    // scancel, the time limit): srun then often exits 0.
    const std::string slurm_failure = alloc_ ? SlurmFailure() : std::string();
    if (w.exit_status == 0 && slurm_failure.empty()) {
      rec->state = WorkerState::kExited;
      std::printf("worker %s %s\n", w.plan.id.c_str(), w.exit.c_str());
      table_lines_ = 0;  // the table is no longer right above the cursor
      Save();
      clean_exit = true;
      continue;
    }
    rec->state = WorkerState::kFailed;
    const std::string slurm_note =
        !slurm_failure.empty() ? slurm_failure
        : alloc_ ? " (its step; Slurm job " + alloc_->job_id() + " still runs)"
                 : std::string();
    Fail(w.exit_status != 0 ? w.exit_status : 1,
         "worker " + w.plan.id + " " + w.exit + slurm_note + "; last lines of " + w.log_path +
             ":\n" + io::LogTail(w.log_path, 50));
    return exit_code_;
  }
  if (clean_exit) {
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
    const WorkerRecord* rec = Record(w.plan.id);
    if (rec != nullptr && (rec->state == WorkerState::kStarting || rec->state == WorkerState::kReady)) {
      ended.push_back(w);
    }
  }
  return ended;
}

// Starts every role in launch order; false when one failed (reported).
bool Run::StartRoles() {
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
          if (WorkerRecord* rec = Record(f->worker)) {
            rec->state = WorkerState::kFailed;
            rec->exit = f->description;
          }
        }
        Fail(ExitCodeFor(ids.error(), *scheduler_), ids.error().message());
      }
      return false;
    }
    Save();
  }
  return true;
}

bool Run::Replace() {
  Status s = scheduler_->DeleteWorkers();
  if (!s.ok()) std::fprintf(stderr, "berth: stopping: %s\n", s.message().c_str());
  if (alloc_) {
    Status c = alloc_->Cancel();
    if (!c.ok()) std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
  }
  state_.phase = "starting";
  state_.message.clear();
  exit_code_ = 0;
  Status st = PlanAndAdmit();
  if (st.ok()) st = scheduler_->ReplaceCluster(nodes_);
  if (!st.ok()) {
    Fail(st.code() == ErrorCode::kInfeasible || st.code() == ErrorCode::kUnavailable ? 3 : 1,
         "after the node failure the experiment could not be placed again: " + st.message());
    return false;
  }
  Save();
  return true;
}

int Run::Main() {
  Status loaded = Load();
  if (!loaded.ok()) {
    StopControl("berth stopped: " + loaded.message());
    std::fprintf(stderr, "%s\n", loaded.message().c_str());
    switch (loaded.code()) {
      case ErrorCode::kInfeasible:
      case ErrorCode::kUnavailable: return 3;
      case ErrorCode::kInvalidSpec:
      case ErrorCode::kNotFound: return 2;
      default: return 1;
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
    if (!node_failed_ || Stopping() ||
        replaced >= experiment_.slurm.restarts_on_node_failure) {
      break;
    }
    std::printf("re-placing the experiment on the nodes left (restart %d of %d after a node "
                "failure)\n", replaced + 1, experiment_.slurm.restarts_on_node_failure);
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
  if (alloc_) {
    Status c = alloc_->Cancel();
    if (!c.ok()) std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
  }
  if (state_.phase != "failed") state_.phase = "stopped";
  Save();
  StopControl("berth stopped");
  std::printf("stopped; logs in %s/logs, merged log %s/merged.log\n", state_.run_dir.c_str(),
              state_.run_dir.c_str());
  return code;
}

bool ProcessAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

int RunExperiment(const RunOptions& options) {
  // The supervisor forks first, while berth has a single thread.
  Result<std::unique_ptr<ProcessSupervisor>> sup = ProcessSupervisor::Start();
  if (!sup) {
    std::fprintf(stderr, "berth run: cannot start the process supervisor: %s\n",
                 sup.error().message().c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  Run run(options, std::move(sup).value());
  return run.Main();
}

namespace {

void PrintStatus(const RunState& s, bool berth_alive) {
  std::printf("experiment %s, run dir %s\nberth pid %d (%s), phase %s%s%s\n\n%s",
              s.experiment.c_str(), s.run_dir.c_str(), s.berth_pid,
              berth_alive ? "running" : "not running", s.phase.c_str(),
              s.message.empty() ? "" : ": ", s.message.c_str(), RenderTable(s).c_str());
}

constexpr milliseconds kControlTimeout{10000};

}  // namespace

int ShowStatus(const std::string& run_dir) {
  // Live, from berth itself, when it runs and answers.
  Result<ControlResponse> live = ControlRequest(run_dir, "GET", "/v1/status", "", kControlTimeout);
  std::string why_not;  // why the saved state is shown instead
  if (live && live->status == 200) {
    Result<RunState> s = RunStateFromJson(live->body);
    if (s) {
      PrintStatus(*s, true);
      return 0;
    }
    why_not = s.error().message();
  } else if (live) {
    why_not = "its control API answered " + std::to_string(live->status) + ": " +
              live->error_message();
  } else if (live.error().code() != ErrorCode::kNotFound) {
    why_not = live.error().message();
  }
  Result<RunState> s = ReadState(run_dir);
  if (!s) {
    std::fprintf(stderr, "berth status: %s\n", s.error().message().c_str());
    return 2;
  }
  bool berth_alive = ProcessAlive(s->berth_pid);
  if (berth_alive) {
    std::printf("berth (pid %d) runs but its control API did not answer%s; last saved state\n",
                s->berth_pid, why_not.empty() ? "" : (" (" + why_not + ")").c_str());
  } else {
    std::printf("berth is not running; last saved state\n");
  }
  for (WorkerRecord& w : s->workers) {
    bool live_state = w.state == WorkerState::kReady || w.state == WorkerState::kStarting ||
                      w.state == WorkerState::kStopping;
    if (live_state && !ProcessAlive(w.pid)) w.exit = w.exit.empty() ? "gone" : w.exit;
  }
  PrintStatus(*s, berth_alive);
  return 0;
}

int Down(const std::string& run_dir, double timeout_s) {
  Result<RunState> s = ReadState(run_dir);
  if (!s) {
    std::fprintf(stderr, "berth down: %s\n", s.error().message().c_str());
    return 2;
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  if (ProcessAlive(s->berth_pid)) {
    std::printf("asking berth (pid %d) to stop %s\n", s->berth_pid, s->experiment.c_str());
    std::fflush(stdout);
    // Through the control API; a berth that does not answer it gets SIGTERM.
    Result<ControlResponse> r = ControlRequest(run_dir, "POST", "/v1/down", "", kControlTimeout);
    if (!r || r->status != 200) {
      const std::string why = !r ? r.error().message()
                                 : "it answered " + std::to_string(r->status) + ": " +
                                       r->error_message();
      std::fprintf(stderr, "berth down: the control API did not take the request (%s); sending "
                           "SIGTERM\n", why.c_str());
      ::kill(s->berth_pid, SIGTERM);
    }
    while (ProcessAlive(s->berth_pid) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  // Whatever is left (berth was gone, or did not stop in time) is killed
  // here: the workers it recorded, those created through the control API
  // included (read again: berth saved them on its way out).
  std::vector<int> left;
  auto note = [&left](const RunState& st) {
    for (const WorkerRecord& w : st.workers) {
      if (ProcessAlive(w.pid) && std::find(left.begin(), left.end(), w.pid) == left.end()) {
        left.push_back(w.pid);
      }
    }
  };
  note(*s);
  if (Result<RunState> again = ReadState(run_dir)) note(*again);
  if (ProcessAlive(s->berth_pid)) {
    std::fprintf(stderr, "berth down: berth (pid %d) did not stop within %.1f s\n", s->berth_pid,
                 timeout_s);
    return 1;
  }
  for (int pid : left) ::kill(pid, SIGKILL);
  std::printf("stopped %s%s\n", s->experiment.c_str(),
              left.empty() ? "" : " (killed workers that outlived berth)");
  return 0;
}

}  // namespace berth::run
