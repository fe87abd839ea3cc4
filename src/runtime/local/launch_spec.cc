// Validation of the public process-runtime specs (include/berth/process.h).

#include <set>
#include <string>

#include "berth/process.h"

namespace berth {
namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '@' || c == '+' || c == '-';
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

Status LaunchSpec::Validate() const {
  if (id.empty() || id.size() > 128) {
    return InvalidSpec("worker id '" + id + "': must be 1 to 128 characters long");
  }
  for (char c : id) {
    if (!IdChar(c)) {
      return InvalidSpec("worker id '" + id +
                         "': only letters, digits and . _ : / @ + - are allowed");
    }
  }
  const std::string who = "worker '" + id + "': ";
  if (argv.empty() || argv[0].empty()) return InvalidSpec(who + "argv is empty; give the program");
  for (size_t i = 0; i < argv.size(); ++i) {
    if (HasNul(argv[i])) {
      return InvalidSpec(who + "argv[" + std::to_string(i) + "] holds a NUL byte");
    }
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : env) {
    if (k.empty() || k.find('=') != std::string::npos || HasNul(k)) {
      return InvalidSpec(who + "environment key '" + k + "' is empty or holds '=' or NUL");
    }
    if (HasNul(v)) return InvalidSpec(who + "environment value of " + k + " holds a NUL byte");
    if (k == kSupervisorTokenVar) {
      return InvalidSpec(who + std::string(kSupervisorTokenVar) + " is set by the supervisor");
    }
    if (!keys.insert(k).second) return InvalidSpec(who + "environment key " + k + " is repeated");
  }
  if (HasNul(cwd) || HasNul(log_path) || HasNul(merged_log_path) || HasNul(log_root)) {
    return InvalidSpec(who + "cwd, log_path, merged_log_path and log_root must not hold NUL bytes");
  }
  return Status::Ok();
}

Status SupervisorOptions::Validate() const {
  using std::chrono::milliseconds;
  if (grace < milliseconds(0) || grace > milliseconds(600'000)) {
    return InvalidSpec("supervisor grace=" + std::to_string(grace.count()) +
                       " ms: must be 0 to 600000 ms");
  }
  if (kill_timeout < milliseconds(100) || kill_timeout > milliseconds(60'000)) {
    return InvalidSpec("supervisor kill_timeout=" + std::to_string(kill_timeout.count()) +
                       " ms: must be 100 to 60000 ms");
  }
  if (spawn_timeout < milliseconds(100) || spawn_timeout > milliseconds(600'000)) {
    return InvalidSpec("supervisor spawn_timeout=" + std::to_string(spawn_timeout.count()) +
                       " ms: must be 100 to 600000 ms");
  }
  return Status::Ok();
}

}  // namespace berth
