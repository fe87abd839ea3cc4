#pragma once
// The Slurm side of `berth run` with backend: slurm: the cluster read from
// sinfo, and the one job that holds the whole experiment (step.h explains
// its shape) from submission to scancel.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "berth/placement.h"
#include "berth/status.h"
#include "runtime/slurm/command.h"
#include "runtime/slurm/holder.h"
#include "runtime/slurm/node_watch.h"
#include "runtime/slurm/slurm_parse.h"
#include "runtime/slurm/step.h"

namespace berth::runtime::slurm {

// The nodes berth may plan on: those of `partition` (every node when empty)
// that Slurm can use now, each with what is free on it (CPUs, memory and GPUs
// not held by other jobs; with `free_only` false: all it has), as GPU devices
// 0..n-1 that the plan uses by rank. `skipped` gets one line per node left
// out and why.
Result<std::vector<NodeSpec>> ReadCluster(const std::string& partition,
                                          std::vector<std::string>* skipped, bool free_only = true,
                                          CommandRunner& runner = CommandRunner::System());

class Allocation {
 public:
  // Writes the holder script into `dir`, starts the heartbeat it watches
  // (holder.h: the job ends itself once berth is gone) and submits the job.
  // Slurm's commands go through `runner`; waits are timed and paced by
  // `clock`.
  static Result<Allocation> Submit(const std::string& job_name, const std::string& partition,
                                   std::vector<NodeRequest> nodes, const std::string& dir,
                                   CommandRunner& runner = CommandRunner::System(),
                                   Clock& clock = Clock::System());

  // Waits until every component runs. `on_pending` gets Slurm's reason each
  // time it changes. Errors: kUnavailable when still pending at `timeout`
  // (with Slurm's reason), kBackend when the job ended instead. The caller
  // cancels.
  Status WaitRunning(std::chrono::milliseconds timeout,
                     const std::function<void(const std::string&)>& on_pending,
                     const std::function<bool()>& interrupted);

  // The state of the job (its worst component), from squeue.
  Result<SlurmJob> Query() const;
  // Every component, from squeue.
  Result<std::vector<SlurmJob>> Components() const;

  // Sends `signal` ("TERM") to the running steps named after `workers`
  // (StepArgv names each step after its worker). Steps already gone are
  // skipped.
  Status SignalSteps(const std::vector<std::string>& workers, const std::string& signal) const;

  // Once it runs: the watch step over its nodes but `lost` (node_watch.h).
  Result<std::unique_ptr<NodeWatch>> WatchNodes(const std::set<std::string>& lost = {}) const;

  // Whether it holds `node` and there each of `devices` (plan ids): a
  // worker planned there runs as its step.
  bool Holds(const std::string& node, const std::vector<int>& devices) const;
  // Its nodes, in the order the plan first used them.
  std::vector<std::string> nodes() const;
  // One component per node (step.h): Slurm ends such a job whole when one
  // of its nodes fails, --no-kill or not.
  bool heterogeneous() const { return !Homogeneous(nodes_); }

  // scancel, then wait (bounded) until Slurm reports it ended; with
  // `node_lost`, only until it is COMPLETING (a node that stopped answering
  // keeps it so until Slurm marks that node down). The heartbeat stops.
  Status Cancel(bool node_lost = false);

  const std::string& job_id() const { return job_id_; }
  // The component that holds `node` (-1 for a plain job), its planned and its
  // granted devices.
  int component(const std::string& node) const;
  const std::vector<int>& planned_gpus(const std::string& node) const;
  const std::vector<int>& granted_gpus(const std::string& node) const;

 private:
  Allocation(CommandRunner& runner, Clock& clock) : runner_(&runner), clock_(&clock) {}

  CommandRunner* runner_;
  Clock* clock_;
  std::string job_id_;
  std::vector<NodeRequest> nodes_;
  std::map<std::string, std::vector<int>> granted_;
  std::unique_ptr<Heartbeat> heartbeat_;  // until cancelled
  bool cancelled_ = false;
};

}  // namespace berth::runtime::slurm
