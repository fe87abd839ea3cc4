// `berth scale RUN_DIR ROLE REPLICAS`: a running berth's role grown or
// shrunk by instances, through its control API (POST /v1/roles/<role>/scale).

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "control/control_client.h"
#include "roles/names.h"
#include "run/runner.h"

namespace berth::run {

int Scale(const std::string& run_dir, const std::string& role, int replicas,
          std::optional<double> timeout_s) {
  if (!roles::IsValidRoleName(role)) {
    std::fprintf(stderr,
                 "berth scale: role \"%s\" is not a role name (1-64 of [A-Za-z0-9_.-], starting "
                 "with a letter or digit); berth status %s lists the roles\n",
                 role.c_str(), run_dir.c_str());
    return 2;
  }
  nlohmann::json body = {{"replicas", replicas}};
  if (timeout_s) body["timeout"] = *timeout_s;
  // The call waits for the new instances: their startup, then some slack.
  const std::chrono::milliseconds wait(
      static_cast<int64_t>((timeout_s.value_or(3600) + 60) * 1000));
  Result<control::ControlResponse> r =
      control::ControlRequest(run_dir, "POST", "/v1/roles/" + role + "/scale", body.dump(), wait);
  if (!r) {
    std::fprintf(stderr, "berth scale: %s\n", r.error().message().c_str());
    return r.error().code() == ErrorCode::kNotFound ? 2 : 1;
  }
  if (r->status != 200) {
    std::fprintf(stderr, "berth scale: %s\n", r->error_message().c_str());
    switch (r->status) {
      case 400:
      case 404:
        return 2;  // bad input: the role, the count
      case 409:
        return 3;  // does not fit now (or ever): explained
      default:
        return 1;
    }
  }
  std::string ids;
  for (const auto& id : r->body.value("ids", nlohmann::json::array())) {
    ids += (ids.empty() ? "" : " ") + id.get<std::string>();
  }
  std::printf("%s: %d instance(s): %s\n", role.c_str(), replicas, ids.c_str());
  return 0;
}

}  // namespace berth::run
