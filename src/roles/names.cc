#include "roles/names.h"

#include <algorithm>
#include <array>

#include "berth/experiment.h"

namespace berth {

const char* PlacementModeName(PlacementMode m) {
  switch (m) {
    case PlacementMode::kShared:
      return "shared";
    case PlacementMode::kSeparate:
      return "separate";
    case PlacementMode::kDeferred:
      return "deferred";
  }
  return "unknown";
}

const char* FailureActionName(FailurePolicy::Action a) {
  switch (a) {
    case FailurePolicy::Action::kFail:
      return "fail";
    case FailurePolicy::Action::kRestart:
      return "restart";
    case FailurePolicy::Action::kDrop:
      return "drop";
  }
  return "unknown";
}

namespace roles {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

constexpr std::array<std::string_view, 10> kOwnedNames = {
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "RANK",        "WORLD_SIZE",  "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",     "NODE_RANK",         "MASTER_ADDR", "MASTER_PORT", "NNODES"};

}  // namespace

bool IsValidRoleName(std::string_view name) {
  if (name.empty() || name.size() > 64 || !IsAlnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool IsValidPortName(std::string_view name) {
  if (name.empty() || name.size() > 64 || !IsAlpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '-'; });
}

bool IsValidEnvName(std::string_view name) {
  if (name.empty() || IsDigit(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsAlnum(c) || c == '_'; });
}

std::string PortEnvName(std::string_view port) {
  std::string out = "BERTH_PORT_";
  for (char c : port) {
    if (c == '-') {
      out += '_';
    } else if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else {
      out += c;
    }
  }
  return out;
}

bool IsBerthOwnedEnv(std::string_view name) {
  if (name.substr(0, 6) == "BERTH_") return true;
  return std::find(kOwnedNames.begin(), kOwnedNames.end(), name) != kOwnedNames.end();
}

const char* BerthOwnedEnvList() {
  return "BERTH_*, CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, RANK, WORLD_SIZE, LOCAL_RANK, "
         "LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR, MASTER_PORT, NNODES";
}

}  // namespace roles
}  // namespace berth
