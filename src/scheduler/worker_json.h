#pragma once
// The Scheduler's workers and errors as JSON: one shape for every client
// that is not C++ (the control API of `berth run`, the Python module), so
// that a worker looks the same whichever way it is asked for.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "berth/scheduler.h"
#include "berth/status.h"

namespace berth::scheduler {

// {"id", "role", "index", "node", "ip" (the node's address), "gpus": [ids],
//  "gpu_fractions" (only when a share is below 1), "ports": {name: port}
//  (spec order), "worker_ports": ["31001", ...] (the same ports as strings,
//  AReaL's Worker.worker_ports), "env": {...} (berth's order), "argv",
//  "fork_of" (forks only), "pid", "phase", "exit", "exit_status",
//  "restarts", "log_path"}
nlohmann::ordered_json WorkerJson(const Worker& w);

// "invalid_spec", "infeasible", "unavailable", "not_found", "backend",
// "worker_failed", "timeout", "internal" ("ok" for kOk).
const char* ErrorCodeSlug(ErrorCode code);

// {"code": slug, "message"}, "message" being the error's text for people
// (placement::ErrorText: for a placement, the engine's per-node lines too);
// "explain" when the error carries the engine's Explanation (formats'
// ExplanationJson: the same object as in `berth place --json`); and, for
// worker_failed and timeout, the failure: "worker", "exit_code",
// "description", "log_tail".
nlohmann::ordered_json ErrorJson(const Status& error, const std::optional<WorkerFailure>& failure);

}  // namespace berth::scheduler
