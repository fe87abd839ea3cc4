#pragma once
// berth's documents as JSON text, for programs that are not C++ (a Python
// module, an RPC layer): a cluster, a role, a plan. The shapes are those of
// `berth place` (cluster) and `berth plan --json` (plan), and of one entry of
// an experiment file's `roles` list (docs/experiment.md), so that every client
// describes these things the same way. Implemented in formats.
//
// Errors are values: nothing here throws. A parse error's message starts with
// `file` and the path of the offending field ("cluster.json: nodes[2].name:
// ..."), so that a person can go straight to it.

#include <string>
#include <string_view>
#include <vector>

#include "berth/experiment.h"
#include "berth/placement.h"
#include "berth/plan.h"
#include "berth/status.h"

namespace berth {

// {"nodes": [{"name": "n0", "resources": {"CPU": 64, "GPU": 8, "memory": 2^37},
//             "labels": {"address": "10.0.0.1"}}]}
// Checks the fields (names unique and non-empty, quantities >= 0, GPU whole);
// PlacementEngine::AddNode checks the rest. Errors: kInvalidSpec.
Result<std::vector<NodeSpec>> ParseClusterJson(std::string_view text, std::string_view file);

// One role as a JSON object (or a YAML map: JSON is YAML) in the shape of an
// experiment's `roles` entry: {"name": "actor", "replicas": 2, "placement":
// "shared", "scheduling_spec": {"gpu": 1, "cmd": [...]}, ...}. Only the shape
// is checked; ValidateExperiment, or the Scheduler when it creates the role,
// checks the values. Field paths in errors start with "role.". Errors:
// kInvalidSpec.
Result<RoleSpec> ParseRoleJson(std::string_view text, std::string_view file);

// An experiment's `groups` list as JSON: [{"name": "weights", "members":
// [{"role": "actor", "ranks": [0]}, {"role": "rollout"}]}]. Only the shape
// is checked; ValidateExperiment checks the names and the roles. Errors:
// kInvalidSpec.
Result<std::vector<CommGroupSpec>> ParseCommGroupsJson(std::string_view text,
                                                       std::string_view file);

// The plan as `berth plan --json` prints it: {"experiment", "groups",
// "workers": [{"id", "role", "index", "node", "address", "gpus", "ports",
// "env", "argv", ...}], "aliases", "warnings"}. Pretty-printed, ends with a
// newline, deterministic. Bytes that are not UTF-8 become U+FFFD. Errors:
// kInternal only if the text cannot be built (out of memory).
Result<std::string> PlanToJson(const std::string& experiment, const Plan& plan);

}  // namespace berth
