#pragma once
// `berth plan`'s two outputs: JSON for programs and a placement map for
// people. Both are deterministic functions of the plan.

#include <string>
#include <vector>

#include "berth/placement.h"
#include "berth/plan.h"

namespace berth::formats {

// {"experiment", "groups": [berth place's group objects plus "role", each
// bundle with its "resources"], "workers": [{"id", "role", "index", "node",
// "address", "group", "bundle", "gpus": [ids], "gpu_fractions" (only when a
// share is below 1), "ports": {name: port}, "env": {...} (berth's order),
// "argv", "fork_of" (forks only), "shares" (a grouped fork's target
// workers), "readiness", "startup_timeout"}],
// "aliases": [{"role", "target"}], "warnings": [...]}. Pretty-printed, ends
// with a newline.
std::string PlanJson(const std::string& experiment, const Plan& plan);

// One line per worker, sorted by node (cluster order), then by first GPU
// device (none last), then launch order: node, devices, worker, rank, ports,
// notes; then the groups and the aliases. `cluster` is a one-line
// description of the cluster for the header.
std::string PlanText(const std::string& experiment, const Plan& plan,
                     const std::vector<NodeSpec>& nodes, const std::string& cluster);

}  // namespace berth::formats
