#pragma once
// An RL experiment as berth runs it: roles with replicas and a scheduling
// spec, placed with AReaL's strategies (shared, separate, deferred) and
// optionally colocated onto another role's GPUs. Field names follow AReaL's
// SchedulingSpec / SchedulingStrategy where the concept is the same.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/placement.h"
#include "berth/resources.h"
#include "berth/status.h"

namespace berth {

// shared: one placement group per role, one bundle per worker (training).
// separate: one group per worker (each rollout instance).
// deferred: one group per instance, split into node-sized bundles placed
//   STRICT_SPREAD, one process per bundle (multi-node inference).
enum class PlacementMode { kShared, kSeparate, kDeferred };
const char* PlacementModeName(PlacementMode m);  // "shared", "separate", "deferred"

// How berth knows a worker is up.
struct Readiness {
  enum class Kind { kNone, kTcp, kHttp };
  Kind kind = Kind::kNone;
  std::string port;              // a port name of the worker's spec
  std::string path = "/health";  // kHttp: GET this path, expect 2xx
};

// Per worker (AReaL SchedulingSpec).
struct SchedulingSpec {
  Quantity cpu = Quantity::Whole(1);
  Quantity gpu;                    // whole, or below 1 for a share of one device
  Quantity mem_gib;                // GiB; memory = mem * 2^30 bytes
  std::vector<std::string> ports;  // names; each worker gets one distinct port per name
  std::vector<std::string> cmd;    // argv; {placeholders} expanded per worker
  std::vector<std::pair<std::string, std::string>> env_vars;  // in file order, byte-exact
  // The node labels a worker's bundles need, in Ray's label selector syntax
  // (GroupSpec::bundle_label_selector): key -> "v", "!v", "in(a,b)", "!in(a,b)".
  // Empty: any node. A colocated role lives in its target's bundles and
  // must leave it empty.
  std::map<std::string, std::string> node_selector;
};

// AReaL SchedulingStrategy: separation (default) or colocation onto `target`.
struct Colocation {
  std::string target;
  bool fork = true;  // true: a new worker in each target worker's bundle; false: an alias
};

// What happens when one of a role's workers exits (or its node is lost)
// while the run goes on. The unit that restarts or is dropped follows the
// placement: a shared role (training) as one gang, a separate or deferred
// role one instance (all its processes); a forked role follows its target
// and has no policy of its own.
struct FailurePolicy {
  enum class Action {
    kFail,     // the run ends (the default)
    kRestart,  // the unit restarts, within the budget below
    kDrop,     // the unit is stopped and the run goes on without it
  };
  Action action = Action::kFail;
  // More than max_restarts restarts of one unit within window_s make it
  // failed for good: then it is dropped when min_replicas is given, else the
  // run ends.
  int max_restarts = 3;
  double window_s = 3600;
  // The wait before a restart: backoff_initial_s, doubled for each restart
  // of the unit within the window, at most backoff_max_s.
  double backoff_initial_s = 1;
  double backoff_max_s = 60;
  // Instances that must stay alive once units are dropped; below it the run
  // ends. Unset: 1 with kDrop; with kRestart a unit out of restarts ends the run.
  std::optional<int> min_replicas;
};
const char* FailureActionName(FailurePolicy::Action a);  // "fail", "restart", "drop"

// A launch preset: berth renders the argv (and the env) that torchrun, vLLM
// or SGLang expect from the plan instead of the spec's cmd (docs/experiment.md,
// "Launch presets"). The argv is program, berth's flags, then args.
struct LauncherSpec {
  enum class Kind { kTorchrun, kVllm, kSglang };
  // torchrun only. kPerNode: one torchrun per node of the role holding that
  // node's ranks' GPUs (--nnodes, --node-rank, --nproc-per-node, ...);
  // kPerRank: berth starts every rank itself with the env torchrun gives.
  enum class Mode { kPerNode, kPerRank };
  Kind kind = Kind::kTorchrun;
  Mode mode = Mode::kPerNode;
  std::vector<std::string> program;  // empty: the tool's usual entry point
  std::vector<std::string> args;     // after berth's flags; {placeholders} expanded
};
const char* LauncherKindName(LauncherSpec::Kind k);  // "torchrun", "vllm", "sglang"
const char* LauncherModeName(LauncherSpec::Mode m);  // "per-node", "per-rank"

struct RoleSpec {
  std::string name;  // 1-64 of [A-Za-z0-9_.-], starting with a letter or digit
  int replicas = 1;
  // One spec for every worker, or exactly `replicas` specs. Empty for an
  // alias (colocation with fork: false), which starts nothing.
  std::vector<SchedulingSpec> tasks;
  // Ignored for a colocated role: it lives in its target's bundles.
  PlacementMode placement = PlacementMode::kShared;
  // Inference instance size; set for rollout roles. The spec is scaled by
  // tp*pp as AReaL's RolloutController does: cpu and mem multiplied, gpu =
  // tp*pp when gpu > 0 (a CPU-only instance stays CPU-only), and shared is
  // turned into separate.
  std::optional<std::pair<int, int>> instance;  // (tp, pp)
  std::optional<Colocation> colocation;
  // Each group of the role inside one domain of a node label (Topology in
  // berth/placement.h): the whole gang of a shared role, each instance of a
  // separate or deferred one. Not for a colocated role (it is in its
  // target's groups).
  std::optional<Topology> topology;
  Readiness readiness;
  double startup_timeout_s = 30.0;
  FailurePolicy on_failure;
  // Set: the workers' argv comes from the preset, and the specs have no cmd.
  std::optional<LauncherSpec> launcher;
};

// Where the workers run. kLocal: processes on this machine. kSlurm: steps of
// one Slurm allocation that holds the whole experiment; the cluster is read
// from Slurm (sinfo), so `cluster` must not be given.
enum class Backend { kLocal, kSlurm };
const char* BackendName(Backend b);  // "local", "slurm"

struct SlurmOptions {
  std::string partition;         // default: the cluster's default partition
  double queue_timeout_s = 300;  // how long the allocation may stay pending
};

// A communication group across roles (the weight-update group between the
// trainer and the inference servers, say): berth gives each member its rank,
// the world size and the rendezvous in its env, and a new version whenever
// the membership changes (docs/experiment.md, "Communication groups").
struct CommGroupMember {
  std::string role;
  // The role's workers of these indices (a shared role's ranks, a separate
  // or deferred role's instances); empty: every worker of the role.
  std::vector<int> ranks;
};
struct CommGroupSpec {
  std::string name;                      // 1-32 of [A-Za-z0-9_], starting with a letter
  std::vector<CommGroupMember> members;  // in rank order
};

struct ExperimentSpec {
  std::string name;
  Backend backend = Backend::kLocal;
  SlurmOptions slurm;
  std::vector<RoleSpec> roles;  // file order
  // Cluster: this machine by default. `gpus` declares devices on it (a
  // machine without GPUs can still run the demo); `cpu` and `mem_gib` declare
  // its CPUs and memory the same way (so that a plan does not depend on the
  // machine it is made on); `cluster_file` is a multi-node cluster in the
  // format of `berth place` (planning only), as written in the file (the
  // command line resolves it against the experiment file's folder).
  std::optional<int> gpus;
  std::optional<Quantity> cpu;
  std::optional<Quantity> mem_gib;
  std::optional<std::string> cluster_file;
  std::string run_dir;                     // default: ./berth-runs/<name>-<timestamp>
  std::vector<CommGroupSpec> comm_groups;  // the YAML's `groups`
};

// Parses the experiment YAML (format: docs/experiment.md). Errors name the
// file, line and column, the field path ("roles[1].scheduling_spec.gpu"), the
// value and what is allowed. Runs ValidateExperiment on the result.
Result<ExperimentSpec> ParseExperiment(std::string_view yaml_text, std::string_view file);

// Checks an experiment built in code, or parsed: every per-field rule of the
// YAML format, then the rules between roles (unique names, colocation target
// present, not itself colocated, no cycle, equal replica counts, a forked
// worker's GPU not above its target's). Errors start with the field path,
// e.g. "roles[2].scheduling_strategy.target: ...".
Status ValidateExperiment(const ExperimentSpec& experiment);

}  // namespace berth
