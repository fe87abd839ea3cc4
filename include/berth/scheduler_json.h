#pragma once
// The Scheduler's workers and errors as JSON text: the shapes the control
// API of `berth run` and the Python module give, for any client that is not
// C++. Implemented in scheduler. Nothing here throws; bytes that are not
// UTF-8 (a worker's log tail, an env value) become U+FFFD.

#include <optional>
#include <string>
#include <vector>

#include "berth/scheduler.h"
#include "berth/status.h"

namespace berth {

// A JSON array with one object per worker, in the given order: {"id",
// "role", "index", "node", "ip" (the node's address), "gpus": [ids],
// "gpu_fractions" (only when a share is below 1), "ports": {name: port},
// "worker_ports": ["31001", ...], "env": {...}, "argv", "fork_of" (forks
// only), "pid", "phase", "exit", "exit_status", "restarts", "log_path"}.
// Compact (one line). Errors: kInternal only if the text cannot be built
// (out of memory).
Result<std::string> WorkersToJson(const std::vector<Worker>& workers);

// Communication groups (Scheduler::CommGroups) as a JSON array of {"name",
// "version", "world_size", "master_addr", "master_port", "members"}, as
// GET /v1/groups/<name> gives one. Compact. Errors: kInternal (out of
// memory).
Result<std::string> CommGroupsToJson(const std::vector<CommGroup>& groups);

// An error as a JSON object, as the control API's "error" (docs/control-api.md):
// {"code": "invalid_spec" | "infeasible" | "unavailable" | "not_found" |
// "backend" | "worker_failed" | "timeout" | "internal", "message"} and, for
// worker_failed and timeout with a `failure`, "worker", "exit_code",
// "description", "log_tail"; for an error that carries an Explanation (a
// placement group not placed), "explain": the group, "reason_code", "hint",
// the shortfall and the per-node verdicts (berth/explanation.h). Compact
// (one line). Never fails: out of memory, it gives the code and a fixed
// message.
std::string ErrorToJson(const Status& error, const std::optional<WorkerFailure>& failure = {});

}  // namespace berth
