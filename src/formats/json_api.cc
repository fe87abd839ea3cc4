// The public JSON documents (include/berth/json.h): thin wrappers over the
// formats adapters, which keep nlohmann's and yaml-cpp's exceptions inside;
// what is left (out of memory) becomes a kInternal error here, so that
// nothing leaves the public API as an exception.

#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "berth/json.h"
#include "formats/experiment_yaml.h"
#include "formats/place_json.h"
#include "formats/plan_render.h"

namespace berth {
namespace {

Status Failed(std::string_view what, const std::exception& e) {
  return Internal(std::string(what) + ": " + e.what());
}

}  // namespace

Result<std::vector<NodeSpec>> ParseClusterJson(std::string_view text, std::string_view file) {
  try {
    return formats::ParseCluster(text, file);
  } catch (const std::exception& e) {
    return Failed(file, e);
  }
}

Result<RoleSpec> ParseRoleJson(std::string_view text, std::string_view file) {
  try {
    return formats::ParseRoleYaml(text, file);
  } catch (const std::exception& e) {
    return Failed(file, e);
  }
}

Result<std::vector<CommGroupSpec>> ParseCommGroupsJson(std::string_view text,
                                                       std::string_view file) {
  try {
    return formats::ParseCommGroupsYaml(text, file);
  } catch (const std::exception& e) {
    return Failed(file, e);
  }
}

Result<std::string> PlanToJson(const std::string& experiment, const Plan& plan) {
  try {
    return formats::PlanJson(experiment, plan);
  } catch (const std::exception& e) {
    return Failed("plan of " + experiment, e);
  }
}

}  // namespace berth
