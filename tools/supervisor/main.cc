// berth-supervisor: the process supervisor as a program of its own, for
// callers that cannot fork it (a process with threads, such as a Python
// interpreter: see SupervisorOptions::exec_path). ProcessSupervisor::Start
// runs it with the socket on descriptor 3, the token in the environment and
// the options in argv; it is not meant to be started by hand.

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "berth/process.h"
#include "runtime/local/supervisor.h"

namespace {

// "--name=123" -> 123; false for another flag or a bad number.
bool Flag(std::string_view arg, std::string_view name, int64_t* value) {
  if (arg.substr(0, name.size()) != name || arg.size() <= name.size()) return false;
  const std::string digits(arg.substr(name.size()));
  char* end = nullptr;
  *value = std::strtoll(digits.c_str(), &end, 10);
  return end != nullptr && *end == '\0';
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "berth-supervisor: %s\nberth starts this program itself (SupervisorOptions::"
               "exec_path); it is not meant to be run by hand\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using berth::runtime::local::kExecSocketFd;
  using berth::runtime::local::kExecTokenEnv;
  berth::SupervisorOptions options;
  int64_t parent = -1;
  std::string cgroup;
  for (int i = 1; i < argc; ++i) {
    int64_t v = 0;
    const std::string_view a = argv[i];
    if (a.starts_with("--cgroup=") && a.size() > 9) {
      cgroup = std::string(a.substr(9));
    } else if (Flag(a, "--parent=", &v)) {
      parent = v;
    } else if (Flag(a, "--grace-ms=", &v)) {
      options.grace = std::chrono::milliseconds(v);
    } else if (Flag(a, "--kill-timeout-ms=", &v)) {
      options.kill_timeout = std::chrono::milliseconds(v);
    } else if (Flag(a, "--spawn-timeout-ms=", &v)) {
      options.spawn_timeout = std::chrono::milliseconds(v);
    } else {
      Usage(("unknown argument: " + std::string(a)).c_str());
    }
  }
  const char* token = std::getenv(kExecTokenEnv);
  if (token == nullptr || parent <= 1) Usage("no token or parent given");
  const std::string token_copy = token;
  unsetenv(kExecTokenEnv);  // the workers inherit this environment
  if (!options.Validate().ok()) Usage("bad options");
  // The parent died between fork and here: nothing to supervise.
  if (getppid() != static_cast<pid_t>(parent)) return 1;
  berth::runtime::local::RunSupervisorProcess(kExecSocketFd, options, token_copy,
                                              static_cast<pid_t>(parent), cgroup);
}
