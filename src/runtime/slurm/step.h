#pragma once
// The Slurm backend's commands, built from a plan: the job that holds the
// whole experiment's resources, and one step per worker inside it. Pure: argv
// vectors (never a shell string with user values pasted in) and parsers.
//
// The holder is one sbatch job with one heterogeneous component per node the
// plan uses, each asking for exactly what the plan puts there (so GPU counts
// need not be whole nodes, and nothing waits in the queue while another part
// holds GPUs: Slurm starts all components together or none). Its batch script
// (holder.h) watches berth's heartbeat and cancels the job once berth is gone;
// berth's scancel ends it otherwise.
//
// Each worker is `srun --jobid=J --het-group=K --overlap ...` on its node.
// Which devices a worker sees: Slurm hands a step of the job every GPU the
// job holds on that node, in its own numbering (physical ids here; 0..n-1
// under ConstrainDevices), in CUDA_VISIBLE_DEVICES. The step runs a fixed
// /bin/sh script that keeps the worker's planned positions of that list and
// then execs the worker's argv, passed as arguments: the planned devices map
// to the granted ones by rank (the plan's k-th device on a node is the k-th
// device Slurm granted there).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "berth/plan.h"
#include "berth/status.h"

namespace berth::runtime::slurm {

// What the allocation holds on one node: the sum of the plan's bundles there.
struct NodeRequest {
  std::string node;
  int64_t cpus = 0;       // whole CPUs, rounded up, at least 1
  int64_t mem_mb = 0;     // MiB, rounded up, at least 1
  std::vector<int> gpus;  // the plan's device ids there, ascending (a share counts whole)
  bool operator==(const NodeRequest&) const = default;
};
// One per node, in the order nodes first appear in the plan's groups.
std::vector<NodeRequest> NodeRequests(const Plan& plan);

// Whether every node asks for the same CPUs, memory and GPU count: then the
// holder is one plain job over those nodes, which Slurm's main scheduler
// starts at once (a heterogeneous job waits for the backfill pass).
bool Homogeneous(const std::vector<NodeRequest>& nodes);

// sbatch argv (program first): --parsable, the job name, --no-requeue
// (Slurm must not restart it behind berth's back), output to `log`, then per
// node "-N1 -n1 --nodelist=NODE -c CPUS --mem=MBM [--gres=gpu:G]
// [--partition=P]" separated by ":" (Homogeneous: once, with --no-kill,
// -N<count> --ntasks-per-node=1 and every node in --nodelist), then the
// script and its arguments.
std::vector<std::string> HolderArgv(const std::string& job_name, const std::string& partition,
                                    const std::vector<NodeRequest>& nodes, const std::string& log,
                                    const std::string& script,
                                    const std::vector<std::string>& script_args);

// srun argv for one worker: the step on `node` of component `het_group`
// (-1: a plain job), its devices given as positions among the node's planned
// devices, then the worker's argv.
std::vector<std::string> StepArgv(const std::string& job_id, int het_group, const std::string& node,
                                  const std::string& worker_id,
                                  const std::vector<int>& gpu_positions,
                                  const std::vector<std::string>& argv);

// Positions of `devices` among `node_devices` (both ascending ids).
std::vector<int> Positions(const std::vector<int>& devices, const std::vector<int>& node_devices);

// The GPUs Slurm granted per node, from `scontrol show job -d JOB` (lines
// "Nodes=node1 CPU_IDs=0-1 Mem=1024 GRES=gpu:3(IDX:0-2)"; a heterogeneous
// job prints one block per component). Nodes without GPUs map to nothing.
Result<std::map<std::string, std::vector<int>>> ParseGrantedGpus(std::string_view text,
                                                                 std::string_view source);

}  // namespace berth::runtime::slurm
