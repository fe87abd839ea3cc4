#include "scheduler/worker_json.h"

#include <utility>

#include "formats/place_json.h"
#include "placement/explain_text.h"

namespace berth::scheduler {

nlohmann::ordered_json WorkerJson(const Worker& w) {
  const WorkerPlan& p = w.plan;
  nlohmann::ordered_json j;
  j["id"] = p.id;
  j["role"] = p.role;
  j["index"] = p.index;
  j["node"] = p.node;
  j["ip"] = p.address;
  nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
  nlohmann::ordered_json fractions = nlohmann::ordered_json::array();
  bool share = false;
  for (const GpuShare& g : p.gpus) {
    gpus.push_back(g.device);
    fractions.push_back(g.fraction.ToDouble());
    share = share || g.fraction < Quantity::Whole(1);
  }
  j["gpus"] = gpus;
  if (share) j["gpu_fractions"] = fractions;
  nlohmann::ordered_json ports = nlohmann::ordered_json::object();
  nlohmann::ordered_json worker_ports = nlohmann::ordered_json::array();
  for (const auto& [name, port] : p.ports) {
    ports[name] = port;
    worker_ports.push_back(std::to_string(port));
  }
  j["ports"] = ports;
  j["worker_ports"] = worker_ports;
  nlohmann::ordered_json env = nlohmann::ordered_json::object();
  for (const auto& [k, v] : p.env) env[k] = v;
  j["env"] = env;
  j["argv"] = p.argv;
  if (!p.fork_of.empty()) j["fork_of"] = p.fork_of;
  if (!p.shares.empty()) j["shares"] = p.shares;
  j["pid"] = w.pid;
  j["phase"] = WorkerPhaseName(w.phase);
  j["exit"] = w.exit;
  j["exit_status"] = w.exit_status;
  j["restarts"] = w.restarts;
  j["log_path"] = w.log_path;
  return j;
}

const char* ErrorCodeSlug(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidSpec:
      return "invalid_spec";
    case ErrorCode::kInfeasible:
      return "infeasible";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kBackend:
      return "backend";
    case ErrorCode::kWorkerFailed:
      return "worker_failed";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

nlohmann::ordered_json ErrorJson(const Status& error, const std::optional<WorkerFailure>& failure) {
  nlohmann::ordered_json j;
  j["code"] = ErrorCodeSlug(error.code());
  // The text a person reads: the message and, for a placement, the
  // engine's per-node breakdown, rendered where all error text is.
  j["message"] = placement::ErrorText(error);
  if (const Explanation* e = error.explanation()) {
    // The same object as a group's "explain" in `berth place --json`, from
    // the same writer (its output always parses; a failure would leave it out).
    nlohmann::ordered_json x =
        nlohmann::ordered_json::parse(formats::ExplanationJson(*e), nullptr, false);
    if (!x.is_discarded()) j["explain"] = std::move(x);
  }
  const bool about_a_worker =
      error.code() == ErrorCode::kWorkerFailed || error.code() == ErrorCode::kTimeout;
  if (about_a_worker && failure) {
    j["worker"] = failure->worker;
    j["exit_code"] = failure->exit_code;
    j["description"] = failure->description;
    j["log_tail"] = failure->log_tail;
  }
  return j;
}

}  // namespace berth::scheduler
