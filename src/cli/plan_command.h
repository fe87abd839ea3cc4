#pragma once
// `berth plan EXPERIMENT.yaml [--cluster CLUSTER.json] [--backend slurm] [--json]
// [--html FILE] [--svg FILE]`: the dry run of an experiment. Plans every role
// on the cluster (this machine by default) and prints where each worker goes,
// its ports, env and argv; --html / --svg also write the placement map
// (src/formats/plan_map.h).

#include <string>

#include "cli/place_command.h"

namespace berth::cli {

struct PlanOptions {
  std::string experiment_path;
  std::string cluster_path;  // empty: the experiment's cluster (default: this machine)
  bool json = false;         // JSON instead of the placement map
  std::string backend;       // "local" or "slurm"; empty: the experiment's
  std::string html_path;     // write the placement map as HTML here
  std::string svg_path;      // and/or as SVG here
};

// Beyond place_command.h's codes: the experiment is valid but does not fit
// the cluster (a group INFEASIBLE or PENDING, or no free port left); the
// message carries the engine's explanation.
inline constexpr int kExitDoesNotFit = 3;

// Prints the plan on stdout and the warnings on stderr; or one error on
// stderr, nothing on stdout, and kExitBadInput / kExitDoesNotFit /
// kExitInternal. The map files are written before stdout (a map that cannot
// be written is an error, exit 2, naming the path); when the plan does not
// fit (exit 3) they are still written, showing the cluster and the group not
// placed with its explanation. Ports: counted from 30000 per node when
// planning a cluster file (the same plan every time), free ports of this
// machine otherwise.
int RunPlan(const PlanOptions& options);

}  // namespace berth::cli
