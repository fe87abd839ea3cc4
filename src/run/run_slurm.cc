// The Slurm side of Run: the one job that holds the whole experiment
// (submitted, waited for, asked what became of it), the devices Slurm
// granted in place of the planned ones, and workers started as its steps.
// The local backend uses none of it but Devices.

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "roles/ports.h"
#include "run/run.h"
#include "runtime/slurm/allocation.h"

namespace berth::run {
namespace {

std::string DeviceList(const std::vector<GpuShare>& gpus) {
  std::string s;
  for (const GpuShare& g : gpus) s += (s.empty() ? "" : ",") + std::to_string(g.device);
  return s;
}

}  // namespace

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
    return running;
  }
  std::printf("  Slurm job %s runs\n", alloc_->job_id().c_str());
  return Status::Ok();
}

// Empty while the Slurm job runs; else what Slurm did to it, and which
// workers stood on the nodes that failed (the job is one allocation: Slurm
// ends all of it, and berth reports every gang on a failed node as failed).
std::string Run::SlurmFailure() {
  Result<runtime::slurm::SlurmJob> job = alloc_->Query();
  // A cancelled job is COMPLETING for a moment before Slurm says why it ended.
  for (int i = 0; i < 40 && job && job->state == runtime::slurm::JobState::kCompleting; ++i) {
    clock_.SleepFor(milliseconds(50));
    job = alloc_->Query();
  }
  if (!job) return " (Slurm job " + alloc_->job_id() + ": " + job.error().message() + ")";
  if (job->state == runtime::slurm::JobState::kRunning) return {};
  std::string out = " (Slurm job " + alloc_->job_id() + " is " + job->state_text +
                    (job->reason.empty() ? "" : ", " + job->reason);
  if (job->state == runtime::slurm::JobState::kNodeFail) {
    node_failed_ = true;
    std::vector<std::string> skipped;
    (void)runtime::slurm::ReadCluster("", &skipped, true, slurm_commands_);
    for (const std::string& line : skipped) {
      const std::string node = line.substr(0, line.find(':'));
      std::string on_it;
      for (const formats::WorkerRecord& w : state_.workers) {
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
  for (int p : runtime::slurm::Positions(devices, alloc_->planned_gpus(w.node))) {
    if (p < static_cast<int>(granted.size()))
      s += (s.empty() ? "" : ",") + std::to_string(granted[p]);
  }
  return s;
}

void Run::UseSlurmSteps(SchedulerOptions& so) {
  so.wrap_launch = [this](const WorkerPlan& w, LaunchSpec spec) -> Result<LaunchSpec> {
    std::vector<int> devices;
    for (const GpuShare& g : w.gpus) devices.push_back(g.device);
    spec.argv = runtime::slurm::StepArgv(
        alloc_->job_id(), alloc_->component(w.node), w.node, w.id,
        runtime::slurm::Positions(devices, alloc_->planned_gpus(w.node)), spec.argv);
    return spec;
  };
  so.before_stop = [this](const std::vector<WorkerPlan>& stage) {
    std::vector<std::string> names;
    names.reserve(stage.size());
    for (const WorkerPlan& w : stage) names.push_back(w.id);
    Status st = alloc_->SignalSteps(names, "TERM");
    if (!st.ok()) std::fprintf(stderr, "berth: signalling steps: %s\n", st.message().c_str());
  };
  // Ports of other machines cannot be tested from here: count them per
  // node from a random base (a clash is retried with new ones).
  if (!roles::AllOnLoopback(nodes_))
    so.ports = roles::CountingPorts(20000 + static_cast<int>(getpid() % 10000));
}

}  // namespace berth::run
