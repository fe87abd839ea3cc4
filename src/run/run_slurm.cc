// The Slurm side of Run: the one job that holds the whole experiment
// (submitted, waited for, asked what became of it), the devices Slurm
// granted in place of the planned ones, and workers started as its steps.
// The local backend uses none of it but Devices.

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/read_file.h"
#include "roles/ports.h"
#include "run/run.h"
#include "runtime/slurm/allocation.h"
#include "runtime/slurm/holder.h"
#include "runtime/slurm/slurm_fit.h"

namespace berth::run {
namespace {

std::string DeviceList(const std::vector<GpuShare>& gpus) {
  std::string s;
  for (const GpuShare& g : gpus) {
    if (!s.empty()) s += ',';
    s += std::to_string(g.device);
  }
  return s;
}

}  // namespace

Result<Plan> Run::PlanSlurm() {
  std::vector<std::string> skipped;
  BERTH_ASSIGN_OR_RETURN(
      std::vector<NodeSpec> free,
      runtime::slurm::ReadCluster(experiment_.slurm.partition, &skipped, true, slurm_commands_));
  for (const std::string& s : skipped)
    std::fprintf(stderr, "warning: slurm node left out: %s\n", s.c_str());
  // Slurm may still call a lost node usable: it notices later than berth.
  std::erase_if(free, [this](const NodeSpec& n) {
    if (!lost_nodes_.contains(n.name)) return false;
    std::fprintf(stderr, "warning: slurm node left out: %s: lost earlier in this run\n",
                 n.name.c_str());
    return true;
  });
  if (free.empty()) return Unavailable("Slurm has no usable node");
  BERTH_ASSIGN_OR_RETURN(runtime::slurm::SlurmFit fit,
                         runtime::slurm::PlanOnSlurm(experiment_, std::move(free),
                                                     roles::CountingPorts(), slurm_commands_));
  if (fit.pending) {
    // Not on what is free now, but on the nodes when their jobs end: the job
    // waits in the queue (its reason shown, bounded by slurm.queue_timeout).
    std::printf(
        "the experiment does not fit what Slurm has free now; it fits the nodes when other "
        "jobs end, so berth submits it to wait in the queue; busy now:\n");
    for (const std::string& b : fit.busy) std::printf("    %s\n", b.c_str());
    std::fflush(stdout);
  }
  nodes_ = std::move(fit.nodes);
  return std::move(fit.plan);
}

// Submits the job that holds the whole experiment and waits until it runs.
Status Run::Allocate(const Plan& plan) {
  std::vector<runtime::slurm::NodeRequest> nodes = runtime::slurm::NodeRequests(plan);
  std::printf("submitting one Slurm job for %zu worker(s) on %zu node(s)\n", plan.workers.size(),
              nodes.size());
  std::fflush(stdout);
  Result<runtime::slurm::Allocation> alloc =
      runtime::slurm::Allocation::Submit("berth-" + experiment_.name, experiment_.slurm.partition,
                                         std::move(nodes), state_.run_dir, slurm_commands_, clock_);
  if (!alloc) return alloc.error();
  alloc_ = std::make_unique<runtime::slurm::Allocation>(std::move(alloc).value());
  // Recorded at once: a berth killed from here on leaves `berth down` the id
  // to cancel (slurm_leftover.h).
  state_.slurm_job = alloc_->job_id();
  state_.message = "Slurm job " + alloc_->job_id();
  Save();
  Status running = alloc_->WaitRunning(
      milliseconds(static_cast<int64_t>(experiment_.slurm.queue_timeout_s * 1000)),
      [this](const std::string& why) {
        std::printf("  Slurm job %s is %s; berth starts the workers once it runs (timeout %g s)\n",
                    alloc_->job_id().c_str(), why.c_str(), experiment_.slurm.queue_timeout_s);
        std::fflush(stdout);
      },
      [this] { return Stopping(); });
  if (!running.ok()) {
    Status c = alloc_->Cancel();
    if (!c.ok()) std::fprintf(stderr, "berth: %s\n", c.message().c_str());
    return running.code() == ErrorCode::kBackend ? running.WithPrefix(HolderLogNote()) : running;
  }
  std::printf("  Slurm job %s runs\n", alloc_->job_id().c_str());
  Result<std::unique_ptr<runtime::slurm::NodeWatch>> watch = alloc_->WatchNodes();
  if (watch) {
    node_watch_ = std::move(watch).value();
  } else {
    std::fprintf(stderr,
                 "berth: warning: %s; a lost node is noticed only once Slurm marks it down\n",
                 watch.error().message().c_str());
  }
  next_node_check_ = clock_.Now() + runtime::slurm::kNodeSilence;
  return Status::Ok();
}

// What the holder job said when it ended itself (its line in holder.log,
// which Slurm's own lines may follow), as the start of a message; "" when
// it said nothing.
std::string Run::HolderLogNote() const {
  const std::string tail =
      common::LogTail(state_.run_dir + "/" + runtime::slurm::kHolderLogFile, 5);
  const size_t at = tail.find("berth holder:");
  if (at == std::string::npos) return {};
  return tail.substr(at, tail.find('\n', at) - at) +
         " (the job ends itself when berth's heartbeat stops changing: berth could not write "
         "it, or the job's first node does not see the run dir; docs/slurm.md); ";
}

// Empty while the Slurm job runs and `w`'s node answers; else the cause of
// `w`'s end, first in the message: what Slurm did to the job (on NODE_FAIL
// the failed nodes and every worker that stood on them: the job is one
// allocation, and Slurm ends all of it), or the node that went silent as the
// worker failed. Sets the exit text of the workers it names.
std::string Run::SlurmFailure(const Worker& w) {
  Result<runtime::slurm::SlurmJob> job = alloc_->Query();
  // A cancelled job is COMPLETING for a moment before Slurm says why it ended.
  for (int i = 0; i < 40 && job && job->state == runtime::slurm::JobState::kCompleting; ++i) {
    clock_.SleepFor(milliseconds(50));
    job = alloc_->Query();
  }
  formats::WorkerRecord* rec = Record(w.plan.id);
  // A node lost under a job that runs on is LostWithItsNode's.
  if (job && job->state == runtime::slurm::JobState::kRunning) return {};
  const std::string id = alloc_->job_id();
  if (!job) {
    if (rec != nullptr) rec->exit = "ended with Slurm job " + id;
    return "Slurm job " + id + " is gone: " + job.error().message();
  }
  if (rec != nullptr) rec->exit = "ended with Slurm job " + id + " (" + job->state_text + ")";
  std::string out = HolderLogNote() + "Slurm job " + id + " is " + job->state_text +
                    (job->reason.empty() ? "" : " (" + job->reason + ")");
  if (job->state == runtime::slurm::JobState::kNodeFail) {
    node_failed_ = true;
    std::vector<std::string> skipped;
    (void)runtime::slurm::ReadCluster("", &skipped, true, slurm_commands_);
    std::string lost;
    for (const std::string& line : skipped) {  // "node2: down: Not responding"
      const size_t colon = line.find(": ");
      const std::string node = line.substr(0, colon);
      const std::string on_it = MarkLost(node);
      if (!on_it.empty()) {
        lost += "; node " + node +
                (colon == std::string::npos ? "" : " (" + line.substr(colon + 2) + ")") +
                ": workers lost with it: " + on_it;
        lost_nodes_.insert(node);
      }
    }
    out = "a node of the experiment failed: " + out + lost;
  }
  return out + "; worker " + w.plan.id + "'s step ended with the job";
}

// The workers on `node`, marked failed ("lost with node N") when running.
std::string Run::MarkLost(const std::string& node) {
  std::string on_it;
  for (formats::WorkerRecord& w : state_.workers) {
    if (w.node != node) continue;
    on_it += (on_it.empty() ? "" : ", ") + w.id;
    w.exit = "lost with node " + node;
    if (w.state == formats::WorkerState::kStarting || w.state == formats::WorkerState::kReady) {
      w.state = formats::WorkerState::kFailed;
    }
  }
  return on_it;
}

// Whether `node` goes silent (node_watch.h) rather than being heard from
// again: the watch prints every second, so a live node answers within about
// that; a lost one is judged after kNodeSilence.
bool Run::NodeWentSilent(const std::string& node) {
  runtime::slurm::NodeWatch* watch = WatchOf(node);
  if (watch == nullptr) return false;
  const auto since = std::chrono::steady_clock::now();
  const auto give_up = since + runtime::slurm::kNodeSilence + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < give_up) {
    if (!watch->ended().empty() || watch->HeardAfter(node, since)) return false;
    for (const auto& silent : watch->Silent()) {
      if (silent.first == node) return true;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

// The message for nodes found silent; they and their workers are marked lost.
std::string Run::NodeLoss(const std::vector<std::pair<std::string, milliseconds>>& silent) {
  // What Slurm says of the nodes meanwhile (it notices later).
  std::vector<std::string> skipped;
  Result<std::vector<NodeSpec>> cluster =
      runtime::slurm::ReadCluster("", &skipped, false, slurm_commands_);
  std::string message;
  for (const auto& [node, quiet] : silent) {
    lost_nodes_.insert(node);
    std::string slurm_says = "usable";
    if (cluster) {
      for (const NodeSpec& n : *cluster) {
        auto state = n.labels.find("state");
        if (n.name == node && state != n.labels.end()) slurm_says = state->second;
      }
    }
    for (const std::string& s : skipped) {
      const size_t colon = s.find(": ");
      if (colon != std::string::npos && s.substr(0, colon) == node)
        slurm_says = s.substr(colon + 2);
    }
    const runtime::slurm::NodeWatch* watch = WatchOf(node);
    message +=
        std::string(message.empty() ? "" : "; ") +
        runtime::slurm::LostNodeText(node, quiet, watch != nullptr && watch->SlurmdGone(node),
                                     slurm_says, MarkLost(node));
  }
  return message;
}

// The job is lost with its node (Slurm would end all of it NODE_FAIL, only
// later): cancelled now, which stops the steps on the nodes that answer
// (SIGTERM, then SIGKILL after KillWait) and ends their sruns, the one of
// the step on the lost node too.
void Run::CancelLostJob() {
  node_failed_ = true;
  node_watch_.reset();
  Status c = alloc_->Cancel(/*node_lost=*/true);
  if (!c.ok()) std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
}

std::optional<milliseconds> Run::LostWithItsNode(const Worker& w) {
  const std::string& node = w.plan.node;
  runtime::slurm::NodeWatch* watch = WatchOf(node);
  if (watch == nullptr) return std::nullopt;
  Result<runtime::slurm::SlurmJob> job = JobOf(w.plan).Query();
  if (!job || job->state != runtime::slurm::JobState::kRunning) return std::nullopt;
  // Slurm marked it down already (scontrol, a health check): srun said
  // "Node failure" and exited, often with 0.
  std::vector<std::string> unusable;
  (void)runtime::slurm::ReadCluster("", &unusable, false, slurm_commands_);
  for (const std::string& u : unusable) {
    if (u.starts_with(node + ": ")) return milliseconds(0);
  }
  // A node that dies kills its tasks first, often before its slurmd and
  // slurmstepd: srun then reports a killed task while the job runs on. An
  // exit 0 is no finish either until the node is heard after it.
  if (!NodeWentSilent(node)) return std::nullopt;
  for (const auto& [name, quiet] : watch->Silent()) {
    if (name == node) return quiet;
  }
  return runtime::slurm::kNodeSilence;
}

runtime::slurm::NodeWatch* Run::WatchOf(const std::string& node) const {
  if (alloc_ && alloc_->Holds(node, {})) return node_watch_.get();
  for (const FurtherJob& f : further_) {
    if (f.alloc->Holds(node, {})) return f.watch.get();
  }
  return nullptr;
}

std::optional<int> Run::CheckSlurmNodes() {
  if (std::optional<int> code = CheckFurtherJobs()) return code;
  if (!node_watch_ || clock_.Now() < next_node_check_) return std::nullopt;
  next_node_check_ = clock_.Now() + milliseconds(250);
  if (std::string why = node_watch_->ended(); !why.empty()) {
    // The job's end ends it too: then the workers' exits say why.
    Result<runtime::slurm::SlurmJob> job = alloc_->Query();
    if (job && job->state == runtime::slurm::JobState::kRunning) {
      std::fprintf(stderr,
                   "berth: warning: the node watch step ended (%s); a lost node is noticed only "
                   "once Slurm marks it down\n",
                   why.c_str());
    }
    node_watch_.reset();
    return std::nullopt;
  }
  std::vector<std::pair<std::string, milliseconds>> silent = node_watch_->Silent();
  std::erase_if(silent, [&](const auto& s) { return lost_nodes_.contains(s.first); });
  if (silent.empty()) return std::nullopt;
  return NodesLost(silent);
}

void Run::EndSlurmJob() {
  EndFurtherJobs();
  node_watch_.reset();
  if (!alloc_) return;
  Status c = alloc_->Cancel(node_failed_);
  if (!c.ok()) std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
}

// The devices a worker sees, as CUDA_VISIBLE_DEVICES lists them: the plan's,
// or on Slurm the ones Slurm granted in their place.
std::string Run::Devices(const WorkerPlan& w) const {
  if (!alloc_) return DeviceList(w.gpus);
  std::vector<int> devices;
  for (const GpuShare& g : w.gpus) devices.push_back(g.device);
  const runtime::slurm::Allocation& job = JobOf(w);
  const std::vector<int>& granted = job.granted_gpus(w.node);
  std::string s;
  for (int p : runtime::slurm::Positions(devices, job.planned_gpus(w.node))) {
    if (p >= static_cast<int>(granted.size())) continue;
    if (!s.empty()) s += ',';
    s += std::to_string(granted[p]);
  }
  return s;
}

void Run::UseSlurmSteps(SchedulerOptions& so) {
  so.wrap_launch = [this](const WorkerPlan& w, LaunchSpec spec) -> Result<LaunchSpec> {
    std::vector<int> devices;
    for (const GpuShare& g : w.gpus) devices.push_back(g.device);
    const runtime::slurm::Allocation& job = JobOf(w);
    spec.argv = runtime::slurm::StepArgv(
        job.job_id(), job.component(w.node), w.node, w.id,
        runtime::slurm::Positions(devices, job.planned_gpus(w.node)), spec.argv);
    return spec;
  };
  so.before_stop = [this](const std::vector<WorkerPlan>& stage) {
    // A job that lost a node and ends is lost (Slurm ends all of it); and
    // while a lost node is not yet marked down, each of Slurm's signal calls
    // about it waits its MessageTimeout (10 s). The sruns of steps there
    // are stopped directly.
    if (node_failed_) return;
    std::map<const runtime::slurm::Allocation*, std::vector<std::string>> names;
    for (const WorkerPlan& w : stage) {
      if (!lost_nodes_.contains(w.node)) names[&JobOf(w)].push_back(w.id);
    }
    for (const auto& [job, ids] : names) {
      Status st = job->SignalSteps(ids, "TERM");
      if (!st.ok()) std::fprintf(stderr, "berth: signalling steps: %s\n", st.message().c_str());
    }
  };
  so.before_restart = [this](const std::vector<Worker>&, const std::vector<WorkerPlan>& next) {
    return HoldForRestart(next);
  };
  // Ports of other machines cannot be tested from here: count them per
  // node from a random base (a clash is retried with new ones).
  if (!roles::AllOnLoopback(nodes_))
    so.ports = roles::CountingPorts(20000 + static_cast<int>(getpid() % 10000));
}

}  // namespace berth::run
