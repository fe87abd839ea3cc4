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
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/process.h"
#include "cluster/local_node.h"
#include "io/place_json.h"
#include "io/read_file.h"
#include "roles/ports.h"
#include "run/probe.h"
#include "run/run_state.h"

extern char** environ;

namespace berth::run {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal.store(sig); }

// The last `lines` lines of a file.
std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const std::string& l : last) out += "    | " + l + "\n";
  return out.empty() ? "    (the log is empty)\n" : out;
}

std::string DefaultRunDir(const std::string& name) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "berth-runs/" + name + "-" + stamp + "-" + std::to_string(getpid());
}

std::string LogName(const std::string& id) {
  std::string s = id;
  std::replace(s.begin(), s.end(), '/', '.');
  return s + ".log";
}

std::string DeviceList(const std::vector<GpuShare>& gpus) {
  std::string s;
  for (const GpuShare& g : gpus) s += (s.empty() ? "" : ",") + std::to_string(g.device);
  return s;
}

int ExitCodeOf(const ExitEvent& e) { return e.signal ? 128 + e.signal : e.exit_code; }

class Run {
 public:
  Run(const RunOptions& options, std::unique_ptr<ProcessSupervisor> sup)
      : options_(options), sup_(std::move(sup)) {}

  int Main();

 private:
  Status Load();
  bool StartRole(size_t begin, size_t end);  // false: failed (already reported)
  int Watch();
  void Teardown();
  void Fail(int code, const std::string& message);
  void Save();
  WorkerRecord& Record(const std::string& id) { return state_.workers[index_.at(id)]; }
  bool Probe(const WorkerPlan& w, milliseconds timeout) const;

  RunOptions options_;
  std::unique_ptr<ProcessSupervisor> sup_;
  ExperimentSpec experiment_;
  Plan plan_;
  RunState state_;
  std::map<std::string, size_t> index_;  // worker id -> state_.workers index
  size_t started_ = 0;                   // plan_.workers[0, started_) were spawned
  int exit_code_ = 0;
};

Status Run::Load() {
  const std::string& path = options_.experiment_path;
  BERTH_ASSIGN_OR_RETURN(std::string text, io::ReadFile(path));
  BERTH_ASSIGN_OR_RETURN(experiment_, ParseExperiment(text, path));
  std::vector<NodeSpec> nodes;
  bool local = true;
  if (experiment_.cluster_file) {
    // A cluster file is for planning; running needs the nodes to be here.
    return InvalidSpec(path + ": cluster.file " + *experiment_.cluster_file +
                       " describes other machines; `berth run` runs on this machine (use "
                       "`berth plan` for a multi-node cluster, or remove cluster.file)");
  }
  const cluster::LocalOverrides overrides{experiment_.gpus, experiment_.cpu, experiment_.mem_gib};
  Result<NodeSpec> node = cluster::LocalNode(cluster::DetectMachine(), overrides);
  if (!node) return InvalidSpec(path + ": " + node.error().message());
  nodes.push_back(std::move(node).value());
  (void)local;
  Result<Plan> plan = MakePlan(experiment_, nodes, roles::LocalFreePorts());
  if (!plan) return Status(plan.error().code(), path + ": " + plan.error().message());
  plan_ = std::move(plan).value();
  for (const std::string& w : plan_.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  state_.experiment = experiment_.name;
  state_.run_dir = !options_.run_dir.empty()       ? options_.run_dir
                   : !experiment_.run_dir.empty() ? experiment_.run_dir
                                                   : DefaultRunDir(experiment_.name);
  state_.berth_pid = getpid();
  state_.phase = "starting";
  std::error_code ec;
  std::filesystem::create_directories(state_.run_dir + "/logs", ec);
  if (ec) return BackendError(state_.run_dir + ": cannot create: " + ec.message());
  for (const WorkerPlan& w : plan_.workers) {
    index_[w.id] = state_.workers.size();
    state_.workers.push_back({.id = w.id, .role = w.role, .index = w.index, .node = w.node,
                              .gpus = DeviceList(w.gpus), .ports = w.ports,
                              .log = state_.run_dir + "/logs/" + LogName(w.id)});
  }
  return Status::Ok();
}

void Run::Save() {
  Status s = WriteState(state_);
  if (!s.ok()) std::fprintf(stderr, "berth: %s\n", s.message().c_str());
}

bool Run::Probe(const WorkerPlan& w, milliseconds timeout) const {
  int port = -1;
  for (const auto& [name, p] : w.ports) {
    if (name == w.readiness.port) port = p;
  }
  switch (w.readiness.kind) {
    case Readiness::Kind::kNone: return true;
    case Readiness::Kind::kTcp: return TcpReady(w.address, port, timeout);
    case Readiness::Kind::kHttp: return HttpReady(w.address, port, w.readiness.path, timeout);
  }
  return false;
}

void Run::Fail(int code, const std::string& message) {
  std::fprintf(stderr, "berth: %s\n", message.c_str());
  state_.phase = "failed";
  state_.message = message;
  exit_code_ = code;
}

bool Run::StartRole(size_t begin, size_t end) {
  const std::string& role = plan_.workers[begin].role;
  std::printf("starting %s: %zu worker(s)\n", role.c_str(), end - begin);
  std::fflush(stdout);
  // The worker's environment: berth's own, then the plan's (which wins).
  std::vector<std::pair<std::string, std::string>> inherited;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    std::string key(*e, static_cast<size_t>(eq - *e));
    if (key == kSupervisorTokenVar) continue;
    inherited.push_back({key, eq + 1});
  }
  std::map<std::string, Clock::time_point> started_at;
  for (size_t i = begin; i < end; ++i) {
    const WorkerPlan& w = plan_.workers[i];
    LaunchSpec spec{.id = w.id, .argv = w.argv};
    std::map<std::string, size_t> at;
    for (const auto& kv : inherited) {
      at[kv.first] = spec.env.size();
      spec.env.push_back(kv);
    }
    for (const auto& [k, v] : w.env) {
      auto it = at.find(k);
      if (it != at.end()) {
        spec.env[it->second].second = v;
      } else {
        at[k] = spec.env.size();
        spec.env.push_back({k, v});
      }
    }
    WorkerRecord& rec = Record(w.id);
    spec.log_path = rec.log;
    spec.merged_log_path = state_.run_dir + "/merged.log";
    Result<int> pid = sup_->Spawn(spec);
    started_ = i + 1;
    if (!pid) {
      rec.state = WorkerState::kFailed;
      rec.exit = "did not start";
      Fail(1, "worker " + w.id + " did not start: " + pid.error().message());
      return false;
    }
    rec.pid = *pid;
    rec.state = WorkerState::kStarting;
    started_at[w.id] = Clock::now();
  }
  Save();
  // Wait until each is ready, each within its own startup timeout; a worker
  // that exits meanwhile fails the start.
  size_t pending = end - begin;
  std::vector<bool> ready(end - begin, false);
  while (pending > 0) {
    if (g_stop_signal.load()) return false;
    for (const ExitEvent& e : sup_->PollExits()) {
      WorkerRecord& rec = Record(e.id);
      rec.state = WorkerState::kFailed;
      rec.exit = e.description;
      Fail(ExitCodeOf(e) ? ExitCodeOf(e) : 1,
           "worker " + e.id + " " + e.description + " while starting; last lines of " + rec.log +
               ":\n" + Tail(rec.log, 50));
      return false;
    }
    for (size_t i = begin; i < end; ++i) {
      if (ready[i - begin]) continue;
      const WorkerPlan& w = plan_.workers[i];
      if (Probe(w, milliseconds(200))) {
        ready[i - begin] = true;
        --pending;
        Record(w.id).state = WorkerState::kReady;
        double secs = std::chrono::duration<double>(Clock::now() - started_at[w.id]).count();
        std::printf("  ready  %-16s pid %-7d %.2f s\n", w.id.c_str(), Record(w.id).pid, secs);
        std::fflush(stdout);
      } else if (Clock::now() - started_at[w.id] >
                 std::chrono::duration<double>(w.startup_timeout_s)) {
        Record(w.id).state = WorkerState::kFailed;
        Record(w.id).exit = "not ready in time";
        Fail(1, "worker " + w.id + " was not ready within its startup timeout of " +
                    std::to_string(w.startup_timeout_s) +
                    " s (raise startup_timeout, or check its readiness port); last lines of " +
                    Record(w.id).log + ":\n" + Tail(Record(w.id).log, 50));
        return false;
      }
    }
    if (pending > 0) std::this_thread::sleep_for(milliseconds(20));
  }
  Save();
  return true;
}

int Run::Watch() {
  state_.phase = "running";
  Save();
  if (options_.status_table) {
    std::printf("\nrunning; run dir %s (berth status %s; Ctrl-C or berth down to stop)\n%s",
                state_.run_dir.c_str(), state_.run_dir.c_str(), RenderTable(state_).c_str());
    std::fflush(stdout);
  }
  size_t running = started_;
  while (!g_stop_signal.load()) {
    Result<std::optional<ExitEvent>> e = sup_->WaitExit(milliseconds(100));
    if (!e) {
      Fail(1, "the process supervisor is gone: " + e.error().message());
      return exit_code_;
    }
    if (!e->has_value()) continue;
    const ExitEvent& ev = **e;
    WorkerRecord& rec = Record(ev.id);
    rec.exit = ev.description;
    if (ev.success()) {
      rec.state = WorkerState::kExited;
      std::printf("worker %s %s\n", ev.id.c_str(), ev.description.c_str());
      Save();
      if (--running == 0) return 0;
      continue;
    }
    rec.state = WorkerState::kFailed;
    Fail(ExitCodeOf(ev), "worker " + ev.id + " " + ev.description + "; last lines of " +
                             rec.log + ":\n" + Tail(rec.log, 50));
    return exit_code_;
  }
  std::printf("stopping (signal %d)\n", g_stop_signal.load());
  return 0;
}

void Run::Teardown() {
  if (state_.phase != "failed") state_.phase = "stopping";
  Save();
  // Stages, backwards through the launch order: a role's other ranks, then
  // its rank 0 (the rendezvous owner). Colocated roles were launched after
  // their targets, so they stop first.
  std::vector<std::vector<std::string>> stages;
  size_t end = started_;
  while (end > 0) {
    size_t begin = end;
    while (begin > 0 && plan_.workers[begin - 1].role == plan_.workers[end - 1].role) --begin;
    std::vector<std::string> others, first;
    for (size_t i = begin; i < end; ++i) {
      (plan_.workers[i].index == 0 ? first : others).push_back(plan_.workers[i].id);
    }
    if (!others.empty()) stages.push_back(others);
    if (!first.empty()) stages.push_back(first);
    end = begin;
  }
  const milliseconds grace(static_cast<int64_t>(options_.grace_s * 1000));
  for (const auto& ids : stages) {
    for (const std::string& id : ids) {
      if (Record(id).state != WorkerState::kFailed && Record(id).state != WorkerState::kExited) {
        Record(id).state = WorkerState::kStopping;
      }
    }
    Status s = sup_->TerminateMany(ids, grace);
    if (!s.ok()) std::fprintf(stderr, "berth: stopping %s: %s\n", ids[0].c_str(), s.message().c_str());
    for (const std::string& id : ids) {
      if (Record(id).state == WorkerState::kStopping) Record(id).state = WorkerState::kStopped;
    }
  }
  for (const ExitEvent& e : sup_->PollExits()) {
    if (Record(e.id).exit.empty()) Record(e.id).exit = e.description;
  }
  Status s = sup_->Shutdown(grace);
  if (!s.ok()) std::fprintf(stderr, "berth: shutting down: %s\n", s.message().c_str());
  if (state_.phase != "failed") state_.phase = "stopped";
  Save();
}

int Run::Main() {
  Status loaded = Load();
  if (!loaded.ok()) {
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
              plan_.workers.size(), state_.run_dir.c_str());
  bool ok = true;
  for (size_t begin = 0; ok && begin < plan_.workers.size();) {
    size_t end = begin;
    while (end < plan_.workers.size() && plan_.workers[end].role == plan_.workers[begin].role) ++end;
    ok = StartRole(begin, end);
    begin = end;
  }
  int code = ok ? Watch() : (g_stop_signal.load() ? 0 : exit_code_);
  Teardown();
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

int ShowStatus(const std::string& run_dir) {
  Result<RunState> s = ReadState(run_dir);
  if (!s) {
    std::fprintf(stderr, "berth status: %s\n", s.error().message().c_str());
    return 2;
  }
  bool berth_alive = ProcessAlive(s->berth_pid);
  for (WorkerRecord& w : s->workers) {
    bool live = w.state == WorkerState::kReady || w.state == WorkerState::kStarting ||
                w.state == WorkerState::kStopping;
    if (live && !ProcessAlive(w.pid)) w.exit = w.exit.empty() ? "gone" : w.exit;
  }
  std::printf("experiment %s, run dir %s\nberth pid %d (%s), phase %s%s%s\n\n%s",
              s->experiment.c_str(), s->run_dir.c_str(), s->berth_pid,
              berth_alive ? "running" : "not running", s->phase.c_str(),
              s->message.empty() ? "" : ": ", s->message.c_str(), RenderTable(*s).c_str());
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
    ::kill(s->berth_pid, SIGTERM);
    while (ProcessAlive(s->berth_pid) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  // Whatever is left (berth was gone, or did not stop in time) is killed
  // here: the workers it recorded.
  std::vector<int> left;
  for (const WorkerRecord& w : s->workers) {
    if (ProcessAlive(w.pid)) left.push_back(w.pid);
  }
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
