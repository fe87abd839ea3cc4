// The Scheduler's workers and errors as JSON text, on the public API
// (include/berth/scheduler_json.h): worker_json.h's objects, dumped with
// bytes that are not UTF-8 replaced (a worker's log tail may hold any bytes),
// so that dumping cannot throw; what is left (out of memory) is caught here.

#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "berth/scheduler_json.h"
#include "formats/comm_group_json.h"
#include "scheduler/worker_json.h"

namespace berth {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

Result<std::string> WorkersToJson(const std::vector<Worker>& workers) {
  try {
    Json a = Json::array();
    for (const Worker& w : workers) a.push_back(scheduler::WorkerJson(w));
    return Dump(a);
  } catch (const std::exception& e) {
    return Internal(std::string("workers as JSON: ") + e.what());
  }
}

Result<std::string> CommGroupsToJson(const std::vector<CommGroup>& groups) {
  try {
    Json a = Json::array();
    for (const CommGroup& g : groups) a.push_back(formats::CommGroupJson(g));
    return Dump(a);
  } catch (const std::exception& e) {
    return Internal(std::string("groups as JSON: ") + e.what());
  }
}

std::string ErrorToJson(const Status& error, const std::optional<WorkerFailure>& failure) {
  try {
    return Dump(scheduler::ErrorJson(error, failure));
  } catch (const std::exception&) {
    // Out of memory: the code alone, which needs no escaping.
    return std::string(R"({"code":")") + scheduler::ErrorCodeSlug(error.code()) +
           R"(","message":"out of memory while describing the error"})";
  }
}

}  // namespace berth
