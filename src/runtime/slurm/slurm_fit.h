#pragma once
// Planning on a Slurm partition, telling "not now" from "never": the plan is
// made on what the nodes have free now; when that fails but the experiment
// fits the nodes as configured (empty), other jobs stand in the way and the
// job would wait in the queue (PENDING) until they end; only what does not
// fit even then is INFEASIBLE. (sinfo's free capacity alone would make a
// busy node look like one without GPUs, that is, one that never fits.)

#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/status.h"
#include "runtime/slurm/command.h"

namespace berth::runtime::slurm {

struct SlurmFit {
  Plan plan;
  std::vector<NodeSpec> nodes;  // what it was planned on
  // The plan is on the nodes as configured: the job would wait for `busy`.
  bool pending = false;
  // Nodes with other jobs' allocations, each "node1 (CPUs 16/16, GPUs 8/8,
  // memory 2/62.5 GiB in use)"; with `pending`, those the plan uses first.
  std::vector<std::string> busy;
};

// Plans on `free` (ReadCluster of experiment.slurm.partition, free_only);
// when that does not fit, reads the same nodes as configured and plans on
// those. Errors: Slurm's, or the plan's on the nodes as configured
// (INFEASIBLE: it never fits there; its explanation compares with them).
Result<SlurmFit> PlanOnSlurm(const ExperimentSpec& experiment, std::vector<NodeSpec> free,
                             const PortSource& ports,
                             CommandRunner& runner = CommandRunner::System());

// "node1 (CPUs 16/16, GPUs 8/8 in use)" for each node whose `free`
// capacity is below its `total` (same names, same order), else nothing.
std::vector<std::string> BusyNodes(const std::vector<NodeSpec>& free,
                                   const std::vector<NodeSpec>& total);

}  // namespace berth::runtime::slurm
