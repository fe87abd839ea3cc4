// The Slurm side of Run when a node of the job is lost while the run goes
// on: the job keeps its other nodes (submitted --no-kill, step.h), the
// workers that stood on the lost node fail by their roles' on_failure, and
// the units that restart and no longer fit what a job holds get a further
// job of their own. Every worker runs as a step of the job that holds its
// node and devices. When Slurm ends the whole job with the node, the whole
// experiment is placed again (Replace) if every role restarts.

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/safe_open.h"
#include "placement/explain_text.h"
#include "run/run.h"
#include "runtime/slurm/allocation.h"

namespace berth::run {

const runtime::slurm::Allocation* Run::HoldingJob(const WorkerPlan& w) const {
  std::vector<int> devices;
  devices.reserve(w.gpus.size());
  for (const GpuShare& g : w.gpus) devices.push_back(g.device);
  if (alloc_ && alloc_->Holds(w.node, devices)) return alloc_.get();
  for (const FurtherJob& f : further_) {
    if (f.alloc->Holds(w.node, devices)) return f.alloc.get();
  }
  return nullptr;
}

const runtime::slurm::Allocation& Run::JobOf(const WorkerPlan& w) const {
  const runtime::slurm::Allocation* job = HoldingJob(w);
  // A worker no job holds (a role created through the control API beyond
  // the plan) is tried in the first one: Slurm says why it cannot start.
  return job != nullptr ? *job : *alloc_;
}

std::optional<int> Run::NodesLost(std::vector<std::pair<std::string, milliseconds>> silent) {
  std::erase_if(silent, [&](const auto& s) { return lost_nodes_.contains(s.first); });
  if (silent.empty()) return std::nullopt;
  // The workers running there as the run knows them: the one whose step's
  // end revealed the loss included (its exit, often 0, is not its own).
  std::map<std::string, std::vector<std::string>> running;
  for (const formats::WorkerRecord& r : state_.workers) {
    if (r.state == formats::WorkerState::kStarting || r.state == formats::WorkerState::kReady) {
      running[r.node].push_back(r.id);
    }
  }
  const std::string message = NodeLoss(silent);
  if (alloc_->heterogeneous() && std::any_of(silent.begin(), silent.end(), [&](const auto& s) {
        return alloc_->Holds(s.first, {});
      })) {
    // Every unit is lost with the job: Main places the experiment again
    // when every role's policy restarts (WholeRestartAllowed).
    Fail(1, message +
                "; Slurm ends a heterogeneous job (its nodes ask for different "
                "resources) whole with one of its nodes (berth cancels Slurm job " +
                alloc_->job_id() + ")");
    CancelLostJob();
    return exit_code_;
  }
  bool handled = true;
  for (const auto& [node, quiet] : silent) {
    // kNotFound: lost already (a second report of it).
    if (!scheduler_->LoseNode(node)) continue;
    Result<bool> h = recovery_->OnNodeLost(running[node], "lost with node " + node);
    if (!h) {
      Fail(1, message + "; " + h.error().message() + " (berth cancels the Slurm job)");
      CancelLostJob();
      return exit_code_;
    }
    handled = handled && *h;
  }
  if (!handled) {
    Fail(1, message + " (berth cancels Slurm job " + alloc_->job_id() + ")");
    CancelLostJob();
    return exit_code_;
  }
  std::printf(
      "%s; the job runs on without it, and each unit that stood there follows its "
      "role's on_failure\n",
      message.c_str());
  std::fflush(stdout);
  table_lines_ = 0;
  // The watch step lost its task there, and may end: a new one without it.
  node_watch_.reset();
  Result<std::unique_ptr<runtime::slurm::NodeWatch>> watch = alloc_->WatchNodes(lost_nodes_);
  if (watch) {
    node_watch_ = std::move(watch).value();
  } else {
    std::fprintf(stderr,
                 "berth: warning: %s; a further lost node is noticed only once Slurm "
                 "marks it down\n",
                 watch.error().message().c_str());
  }
  next_node_check_ = clock_.Now() + runtime::slurm::kNodeSilence;
  Save();
  return std::nullopt;
}

Status Run::HoldForRestart(const std::vector<WorkerPlan>& next) {
  // The bundles of the workers that no job holds, by group.
  std::vector<PlannedGroup> outside;
  std::vector<std::string> names;
  const std::vector<GroupView> groups = scheduler_->Groups();
  for (const WorkerPlan& w : next) {
    if (HoldingJob(w) != nullptr) continue;
    for (const GroupView& g : groups) {
      if (g.name != w.group) continue;
      auto it = std::find_if(outside.begin(), outside.end(),
                             [&](const PlannedGroup& p) { return p.group.name == g.name; });
      if (it == outside.end()) {
        outside.push_back({w.role, g});
        it = outside.end() - 1;
        it->group.placed.clear();
      }
      // Its own bundle, and every other one of the group on its node whose
      // devices it holds (a per-node torchrun launcher holds its node's
      // ranks' bundles).
      for (const BundlePlacement& b : g.placed) {
        const bool held =
            b.node == w.node && !b.gpus.empty() &&
            std::all_of(b.gpus.begin(), b.gpus.end(), [&](const GpuShare& d) {
              return std::any_of(w.gpus.begin(), w.gpus.end(),
                                 [&](const GpuShare& x) { return x.device == d.device; });
            });
        const bool listed =
            std::any_of(it->group.placed.begin(), it->group.placed.end(),
                        [&](const BundlePlacement& x) { return x.index == b.index; });
        if ((b.index == w.bundle || held) && !listed) it->group.placed.push_back(b);
      }
    }
    names.push_back(w.id);
  }
  if (outside.empty()) return Status::Ok();
  Plan part;
  part.groups = std::move(outside);
  std::vector<runtime::slurm::NodeRequest> nodes = runtime::slurm::NodeRequests(part);
  std::string who;
  for (const std::string& n : names) who += (who.empty() ? "" : ", ") + n;
  const std::string dir = "further-" + std::to_string(++further_submitted_);
  std::printf(
      "no job of the run holds where %s now go%s: submitting a further Slurm job for "
      "%zu node(s)\n",
      who.c_str(), names.size() == 1 ? "es" : "", nodes.size());
  std::fflush(stdout);
  table_lines_ = 0;
  {
    BERTH_ASSIGN_OR_RETURN(common::UniqueFd run_dir,
                           common::OpenDirectory(state_.run_dir, false, 0));
    BERTH_ASSIGN_OR_RETURN(common::UniqueFd made,
                           common::MakeDirectoryBeneath(run_dir.get(), dir, 0700, state_.run_dir));
  }
  Result<runtime::slurm::Allocation> alloc = runtime::slurm::Allocation::Submit(
      "berth-" + experiment_.name, experiment_.slurm.partition, std::move(nodes),
      state_.run_dir + "/" + dir, slurm_commands_, clock_);
  if (!alloc) return alloc.error().WithPrefix("a further Slurm job for " + who + ": ");
  FurtherJob job;
  job.alloc = std::make_unique<runtime::slurm::Allocation>(std::move(alloc).value());
  // Recorded at once, for `berth down` after a berth killed from here on.
  state_.further_slurm_jobs.push_back({job.alloc->job_id(), dir});
  Save();
  Status running = job.alloc->WaitRunning(
      milliseconds(static_cast<int64_t>(experiment_.slurm.queue_timeout_s * 1000)),
      [&](const std::string& why) {
        std::printf("  Slurm job %s is %s; the restart waits for it (timeout %g s)\n",
                    job.alloc->job_id().c_str(), why.c_str(), experiment_.slurm.queue_timeout_s);
        std::fflush(stdout);
      },
      [this] { return Stopping(); });
  if (!running.ok()) {
    Status c = job.alloc->Cancel();
    if (!c.ok()) std::fprintf(stderr, "berth: %s\n", c.message().c_str());
    return running.WithPrefix("a further Slurm job for " + who + ": ");
  }
  std::printf("  Slurm job %s runs\n", job.alloc->job_id().c_str());
  Result<std::unique_ptr<runtime::slurm::NodeWatch>> watch = job.alloc->WatchNodes();
  if (watch) job.watch = std::move(watch).value();
  further_.push_back(std::move(job));
  return Status::Ok();
}

std::optional<int> Run::CheckFurtherJobs() {
  for (FurtherJob& f : further_) {
    if (!f.watch) continue;
    if (!f.watch->ended().empty()) {
      f.watch.reset();
      continue;
    }
    std::vector<std::pair<std::string, milliseconds>> silent = f.watch->Silent();
    std::erase_if(silent, [&](const auto& s) { return lost_nodes_.contains(s.first); });
    if (silent.empty()) continue;
    f.watch.reset();
    return NodesLost(silent);
  }
  return std::nullopt;
}

void Run::EndIdleFurtherJobs() {
  std::erase_if(further_, [this](FurtherJob& f) {
    for (const Worker& w : scheduler_->Workers()) {
      if (HoldingJob(w.plan) == f.alloc.get()) return false;  // still someone's
    }
    f.watch.reset();
    std::printf("Slurm job %s holds no worker any more: cancelled\n", f.alloc->job_id().c_str());
    Status c = f.alloc->Cancel();
    if (!c.ok()) {
      // Left in state.json: `berth down` tries again.
      std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
    } else {
      std::erase_if(state_.further_slurm_jobs, [&](const formats::FurtherSlurmJob& held) {
        return held.id == f.alloc->job_id();
      });
      Save();
    }
    return true;
  });
}

void Run::EndFurtherJobs() {
  for (FurtherJob& f : further_) {
    f.watch.reset();
    Status c = f.alloc->Cancel(node_failed_);
    if (!c.ok()) std::fprintf(stderr, "berth: cancelling: %s\n", c.message().c_str());
  }
  further_.clear();
}

std::optional<int> Run::WholeRestartsAllowed() const {
  std::optional<int> most;
  for (const RoleSpec& r : experiment_.roles) {
    if (r.colocation) continue;  // a colocated role follows its target
    if (r.on_failure.action != FailurePolicy::Action::kRestart) return std::nullopt;
    most = std::min(most.value_or(r.on_failure.max_restarts), r.on_failure.max_restarts);
  }
  return most;
}

bool Run::Replace() {
  // Restarts the policies had scheduled are for workers that no longer run.
  recovery_ = std::make_unique<Recovery>(*scheduler_, clock_,
                                         [this](const RecoveryEvent& e) { OnRecovery(e); });
  Status s = scheduler_->DeleteWorkers();
  if (!s.ok()) std::fprintf(stderr, "berth: stopping: %s\n", s.message().c_str());
  EndSlurmJob();
  state_.phase = "starting";
  state_.message.clear();
  exit_code_ = 0;
  Status st = PlanAndAdmit();
  if (st.ok()) st = scheduler_->ReplaceCluster(nodes_);
  if (!st.ok()) {
    Fail(st.code() == ErrorCode::kInfeasible || st.code() == ErrorCode::kUnavailable ? 3 : 1,
         "after the node failure the experiment could not be placed again: " +
             placement::ErrorText(st));
    return false;
  }
  Save();
  return true;
}

}  // namespace berth::run
