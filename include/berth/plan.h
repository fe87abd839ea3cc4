#pragma once
// From an experiment to concrete workers: the role layer on top of the
// placement engine. Pure: no processes; ports come from a PortSource.
//
// Roles become placement groups as in AReaL #966:
//   shared    one group "<role>", one bundle per worker, PACK; worker i in bundle i.
//   separate  one group "<role>/<i>" per worker, one bundle.
//   deferred  one group "<role>/<i>" per instance, split into node-sized
//             bundles (SplitInstance) placed STRICT_SPREAD; one process per
//             bundle. The head (bundle 0) is worker "<role>/<i>", the others
//             "<role>/<i>.<node rank>"; all have index i.
// A separate instance with more GPUs than the largest node is deferred
// automatically (with a warning). A forked colocated role puts worker i into
// its target worker i's bundle (a deferred target: the head's bundle), whose
// request grows by the fork's cpu and mem before placement; the fork's GPUs
// are the target's devices, shared, not reserved again.
//
// Every worker's env, in this order (values byte-exact):
//   BERTH_ROLE, BERTH_WORKER_ID, BERTH_NODE, BERTH_PORT_<NAME>... (its ports,
//   upper-cased, '-' -> '_'), CUDA_VISIBLE_DEVICES (ascending ids, "" when
//   none), CUDA_DEVICE_ORDER=PCI_BUS_ID (so the ids are nvidia-smi's);
//   training roles (shared, and forks of a shared target): RANK, WORLD_SIZE,
//   LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR, MASTER_PORT (rank
//   0's "master" port, added for rank 0 unless the spec declares one);
//   deferred: NNODES, NODE_RANK, BERTH_HEAD_ADDR, BERTH_HEAD_PORT (the head's
//   "rendezvous" port, added unless declared); roles with an instance:
//   BERTH_TP, BERTH_PP; a role with a launcher preset: what its tool
//   expects (roles/launcher.h: a per-node torchrun's NNODES, NODE_RANK,
//   MASTER_ADDR, MASTER_PORT; per-rank, torchrun's own env: GROUP_RANK,
//   ROLE_RANK, TORCHELASTIC_RESTART_COUNT, ...); then the spec's env_vars
//   in file order; then, for each communication group it is a member of,
//   BERTH_GROUP_<NAME>_RANK, _WORLD_SIZE, _MASTER_ADDR, _MASTER_PORT and
//   _VERSION (<NAME> upper-cased).
// argv elements may use any of these names as {NAME}; "{{" and "}}" are
// literal braces.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "berth/experiment.h"
#include "berth/placement.h"
#include "berth/status.h"

namespace berth {

// One process to start.
struct WorkerPlan {
  std::string id;  // "actor/0"; a deferred instance's followers: "rollout/0.1"
  std::string role;
  int index = 0;  // within the role (deferred: the instance)
  std::string node;
  std::string address;         // how other workers reach the node (127.0.0.1 locally)
  std::vector<GpuShare> gpus;  // concrete devices; CUDA_VISIBLE_DEVICES is built from them
  std::vector<std::pair<std::string, int>> ports;  // name -> port, spec order
  // The worker's environment as berth sets it (on top of the inherited
  // one), in a fixed order; values byte-exact.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> argv;  // placeholders expanded
  std::string group;              // placement group holding it
  int bundle = 0;                 // its bundle in that group
  std::string fork_of;            // forked worker: the target worker's id
  // Grouped (N:M) colocation: the target workers whose devices this fork
  // runs on, in order (fork_of is the first); empty for a 1:1 fork.
  std::vector<std::string> shares;
  Readiness readiness;
  double startup_timeout_s = 30.0;
};

struct PlannedGroup {
  std::string role;
  GroupView group;
};

// A communication group's membership at one version: its members' worker
// ids in rank order, and the rendezvous on the first member's node.
struct CommGroup {
  std::string name;
  int version = 1;
  std::string master_addr;  // "" while it has no member
  int master_port = -1;
  std::vector<std::string> members;
  bool operator==(const CommGroup&) const = default;
};

struct Plan {
  std::vector<PlannedGroup> groups;
  // Launch order: targets before the roles colocated on them; within a role,
  // index order. Teardown runs it backwards with rank 0 of a role last.
  std::vector<WorkerPlan> workers;
  // Roles that are aliases (colocation with fork: false): role -> target.
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> warnings;
  std::vector<CommGroup> comm_groups;  // the experiment's `groups`, version 1
};

// Hands out ports. `node` is the worker's node; implementations must never
// return the same port twice for one node. (src/roles/ports.h has two.)
using PortSource = std::function<Result<int>(const std::string& node)>;

// Plans every role on `nodes`; a node's address is its label "address", else
// its name. Errors: kInvalidSpec for a bad experiment (ValidateExperiment's
// messages, or an unknown placeholder in a cmd), kInfeasible / kUnavailable
// for a group that is not placed, carrying the engine's reason and its
// per-node breakdown. Messages start with the field path of the role.
Result<Plan> MakePlan(const ExperimentSpec& experiment, const std::vector<NodeSpec>& nodes,
                      const PortSource& ports);

// AReaL's _create_bundle_specs_split: an instance of `gpu` GPUs split into
// node-sized bundles of `gpus_per_node` (remainder last), cpu and mem split
// in proportion with Python's round-half-to-even and the remainder to the
// last bundle. Returns (cpu, gpu, mem) per bundle. Errors: a negative input,
// gpus_per_node <= 0 with gpu > 0, or cpu*gpu or mem*gpu above 2^53 (where
// double division, and so Python's arithmetic, stops being exact).
struct SplitBundle {
  int64_t cpu = 0;
  int64_t gpu = 0;
  int64_t mem = 0;
  bool operator==(const SplitBundle&) const = default;
};
Result<std::vector<SplitBundle>> SplitInstance(int64_t gpus_per_node, int64_t cpu, int64_t gpu,
                                               int64_t mem);

}  // namespace berth
