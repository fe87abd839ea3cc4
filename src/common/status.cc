#include "berth/status.h"

#include <cstdio>
#include <cstdlib>

namespace berth {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kInvalidSpec:
      return "InvalidSpec";
    case ErrorCode::kInfeasible:
      return "Infeasible";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kBackend:
      return "Backend";
    case ErrorCode::kWorkerFailed:
      return "WorkerFailed";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

namespace internal {

void ResultMisuse(const std::string& what) {
  std::fprintf(stderr, "berth: bug: %s\n", what.c_str());
  std::abort();
}

}  // namespace internal

}  // namespace berth
