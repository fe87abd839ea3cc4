#include "runtime/slurm/allocation.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/safe_open.h"
#include "common/text.h"
#include "runtime/slurm/command.h"
#include "runtime/slurm/holder.h"

namespace berth::runtime::slurm {

using common::Quote;
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kClientTimeout{15000};
// How often a pending job is asked about, and a cancelled one until it ends.
constexpr milliseconds kPendingPoll{250};
constexpr milliseconds kCancelPoll{100};
constexpr std::chrono::seconds kCancelWait{30};

}  // namespace

Result<std::vector<NodeSpec>> ReadCluster(const std::string& partition,
                                          std::vector<std::string>* skipped, bool free_only,
                                          CommandRunner& runner) {
  std::vector<std::string> argv = {"sinfo"};
  for (std::string& a : SinfoArgs()) argv.push_back(std::move(a));
  BERTH_ASSIGN_OR_RETURN(std::string out, RunClient(runner, argv, kClientTimeout));
  BERTH_ASSIGN_OR_RETURN(std::vector<SlurmNode> nodes, ParseSinfo(out, "sinfo"));
  std::vector<NodeSpec> specs;
  bool partition_seen = partition.empty();
  for (const SlurmNode& n : nodes) {
    if (!partition.empty()) {
      bool in = false;
      for (const std::string& p : n.partitions) in |= p == partition;
      partition_seen |= in;
      if (!in) continue;
    }
    if (!n.status.usable) {
      if (skipped) skipped->push_back(n.spec.name + ": " + n.status.unusable_reason);
      continue;
    }
    NodeSpec s = n.spec;
    if (!free_only) {
      specs.push_back(std::move(s));
      continue;
    }
    const int64_t cpus = s.resources.Get(kCpu).WholePart() - n.alloc_cpus;
    const Quantity mem = s.resources.Get(kMemory);
    const int64_t gpus = s.resources.Get(kGpu).WholePart() - n.gpus_used;
    s.resources.Set(kCpu, Quantity::Whole(std::max<int64_t>(0, cpus)));
    const Quantity used = Quantity::Whole(n.alloc_memory_bytes);
    s.resources.Set(kMemory, used < mem ? mem - used : Quantity());
    if (gpus > 0) {
      s.resources.Set(kGpu, Quantity::Whole(gpus));
    } else if (!s.resources.Get(kGpu).IsZero()) {
      s.resources.Set(kGpu, Quantity());
    }
    specs.push_back(std::move(s));
  }
  if (!partition_seen) {
    std::string names;
    for (const SlurmNode& n : nodes) {
      for (const std::string& p : n.partitions) {
        if (names.find(p) == std::string::npos) names += (names.empty() ? "" : ", ") + p;
      }
    }
    return InvalidSpec("slurm.partition: no partition is named " + Quote(partition) +
                       "; partitions: " + names);
  }
  return specs;
}

Result<Allocation> Allocation::Submit(const std::string& job_name, const std::string& partition,
                                      std::vector<NodeRequest> nodes, const std::string& dir,
                                      CommandRunner& runner, Clock& clock) {
  if (nodes.empty()) return InvalidSpec("the plan uses no node; nothing to allocate");
  std::error_code ec;
  // Absolute: the job runs on another machine, in another directory.
  const std::filesystem::path abs = std::filesystem::absolute(dir, ec).lexically_normal();
  if (ec) return BackendError(dir + ": cannot make the path absolute: " + ec.message());
  const std::string script = (abs / kHolderScriptFile).string();
  {
    // Never through a link planted in the run directory.
    BERTH_ASSIGN_OR_RETURN(common::UniqueFd d, common::OpenDirectory(dir, false, 0));
    // An earlier job's log must not speak for this one (berth quotes it).
    (void)::unlinkat(d.get(), kHolderLogFile, 0);
    BERTH_ASSIGN_OR_RETURN(common::UniqueFd f,
                           common::OpenFileBeneath(d.get(), kHolderScriptFile,
                                                   common::WriteMode::kTruncate, 0600, dir));
    const std::string_view text = kHolderScript;
    if (::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return BackendError(script + ": cannot write the holder script: " + std::strerror(errno));
    }
  }
  // Beating before the job can start: it ends at once without a fresh beat.
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Heartbeat> heartbeat,
                         Heartbeat::Start(dir, kHeartbeatInterval));
  BERTH_ASSIGN_OR_RETURN(
      std::string out,
      RunClient(runner,
                HolderArgv(job_name, partition, nodes, (abs / kHolderLogFile).string(), script,
                           HolderScriptArgs(heartbeat->path())),
                kClientTimeout));
  // --parsable: "JOBID" or "JOBID;CLUSTER".
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
    return BackendError("sbatch printed " + Quote(out) + " instead of a job id");
  }
  Allocation a(runner, clock);
  a.job_id_ = id;
  a.nodes_ = std::move(nodes);
  a.heartbeat_ = std::move(heartbeat);
  return a;
}

Result<std::vector<SlurmJob>> Allocation::Components() const {
  std::vector<std::string> argv = {"squeue"};
  for (std::string& a : SqueueJobArgs({job_id_})) argv.push_back(std::move(a));
  BERTH_ASSIGN_OR_RETURN(std::string out, RunClient(*runner_, argv, kClientTimeout));
  BERTH_ASSIGN_OR_RETURN(std::vector<SlurmJob> jobs, ParseSqueue(out, "squeue"));
  if (jobs.empty()) return NotFound("Slurm no longer lists job " + job_id_);
  return jobs;
}

Result<SlurmJob> Allocation::Query() const {
  BERTH_ASSIGN_OR_RETURN(std::vector<SlurmJob> jobs, Components());
  // The component that is furthest from running decides.
  SlurmJob worst = jobs[0];
  for (const SlurmJob& j : jobs) {
    if (IsFinal(j.state) && !IsFinal(worst.state)) worst = j;
    if (j.state == JobState::kPending && worst.state == JobState::kRunning) worst = j;
  }
  return worst;
}

Status Allocation::WaitRunning(milliseconds timeout,
                               const std::function<void(const std::string&)>& on_pending,
                               const std::function<bool()>& interrupted) {
  const Clock::TimePoint deadline = clock_->Now() + timeout;
  std::string last_reason = "-";
  while (true) {
    if (interrupted && interrupted())
      return Unavailable("interrupted while job " + job_id_ + " was pending");
    BERTH_ASSIGN_OR_RETURN(SlurmJob job, Query());
    if (job.state == JobState::kRunning) break;
    if (IsFinal(job.state)) {
      return BackendError("Slurm job " + job_id_ + " ended " + job.state_text +
                          (job.reason.empty() ? "" : " (" + job.reason + ")") + " before it ran");
    }
    if (job.reason != last_reason) {
      last_reason = job.reason;
      if (on_pending) on_pending(job.state_text + (job.reason.empty() ? "" : ": " + job.reason));
    }
    if (clock_->Now() > deadline) {
      return Unavailable("Slurm job " + job_id_ + " is still " + job.state_text +
                         (job.reason.empty() ? "" : " (reason: " + job.reason + ")") +
                         " after the slurm.queue_timeout of " +
                         std::to_string(timeout.count() / 1000) +
                         " s; raise it, or free the nodes the plan uses");
    }
    clock_->SleepFor(kPendingPoll);
  }
  BERTH_ASSIGN_OR_RETURN(
      std::string detail,
      RunClient(*runner_, {"scontrol", "show", "job", "-d", job_id_}, kClientTimeout));
  BERTH_ASSIGN_OR_RETURN(granted_, ParseGrantedGpus(detail, "scontrol show job -d " + job_id_));
  for (const NodeRequest& n : nodes_) {
    if (granted_[n.node].size() != n.gpus.size()) {
      return BackendError("Slurm granted " + std::to_string(granted_[n.node].size()) +
                          " GPU(s) on " + n.node + " where the plan asked for " +
                          std::to_string(n.gpus.size()));
    }
  }
  return Status::Ok();
}

Status Allocation::SignalSteps(const std::vector<std::string>& workers,
                               const std::string& signal) const {
  // A heterogeneous job's steps are listed under each component's own id.
  BERTH_ASSIGN_OR_RETURN(std::vector<SlurmJob> components, Components());
  std::vector<std::string> ids;
  ids.reserve(components.size());
  for (const SlurmJob& c : components) ids.push_back(c.job_id);
  std::vector<std::string> argv = {"squeue"};
  for (std::string& a : SqueueStepArgs(ids)) argv.push_back(std::move(a));
  BERTH_ASSIGN_OR_RETURN(std::string out, RunClient(*runner_, argv, kClientTimeout));
  BERTH_ASSIGN_OR_RETURN(std::vector<SlurmStep> steps, ParseSqueueSteps(out, "squeue -s"));
  std::vector<std::string> cmd = {"scancel", "--signal=" + signal};
  for (const SlurmStep& s : steps) {
    if (std::find(workers.begin(), workers.end(), s.name) != workers.end()) {
      cmd.push_back(s.step_id);
    }
  }
  if (cmd.size() == 2) return Status::Ok();
  Result<std::string> r = RunClient(*runner_, cmd, kClientTimeout);
  return r ? Status::Ok() : r.error();
}

Status Allocation::Cancel(bool node_lost) {
  if (cancelled_ || job_id_.empty()) return Status::Ok();
  cancelled_ = true;
  // Stops beating once the job is over, or at the latest when berth returns
  // from here: a job that did not end now ends itself kHeartbeatLimit later.
  struct StopBeating {
    std::unique_ptr<Heartbeat>& h;
    ~StopBeating() { h.reset(); }
  } stop_beating{heartbeat_};
  Result<std::string> r = RunClient(*runner_, {"scancel", job_id_}, kClientTimeout);
  if (!r && r.error().code() != ErrorCode::kNotFound) return r.error();
  const Clock::TimePoint deadline = clock_->Now() + kCancelWait;
  while (clock_->Now() < deadline) {
    Result<SlurmJob> job = Query();
    if (!job) return job.error().code() == ErrorCode::kNotFound ? Status::Ok() : job.error();
    if (IsFinal(job->state)) return Status::Ok();
    // A lost node keeps the job COMPLETING until Slurm marks it down (after
    // its SlurmdTimeout); the nodes that answer are released meanwhile.
    if (node_lost && job->state == JobState::kCompleting) return Status::Ok();
    clock_->SleepFor(kCancelPoll);
  }
  return BackendError("Slurm job " + job_id_ + " was cancelled but has not ended after 30 s");
}

Result<std::unique_ptr<NodeWatch>> Allocation::WatchNodes(const std::set<std::string>& lost) const {
  std::vector<std::string> names;
  std::vector<int> het_groups;
  // A plain job (HolderArgv) or one component per node.
  const bool het = !Homogeneous(nodes_);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (lost.contains(nodes_[i].node)) continue;
    names.push_back(nodes_[i].node);
    if (het) het_groups.push_back(static_cast<int>(i));
  }
  if (names.empty()) return Unavailable("job " + job_id_ + " has no node left to watch");
  return NodeWatch::Start(job_id_, het_groups, names);
}

bool Allocation::Holds(const std::string& node, const std::vector<int>& devices) const {
  for (const NodeRequest& n : nodes_) {
    if (n.node != node) continue;
    return std::all_of(devices.begin(), devices.end(), [&](int d) {
      return std::find(n.gpus.begin(), n.gpus.end(), d) != n.gpus.end();
    });
  }
  return false;
}

std::vector<std::string> Allocation::nodes() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const NodeRequest& n : nodes_) out.push_back(n.node);
  return out;
}

int Allocation::component(const std::string& node) const {
  if (Homogeneous(nodes_)) return -1;  // a plain job (HolderArgv)
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].node == node) return static_cast<int>(i);
  }
  return -1;
}

const std::vector<int>& Allocation::planned_gpus(const std::string& node) const {
  static const std::vector<int> kNone;
  for (const NodeRequest& n : nodes_) {
    if (n.node == node) return n.gpus;
  }
  return kNone;
}

const std::vector<int>& Allocation::granted_gpus(const std::string& node) const {
  static const std::vector<int> kNone;
  auto it = granted_.find(node);
  return it == granted_.end() ? kNone : it->second;
}

}  // namespace berth::runtime::slurm
