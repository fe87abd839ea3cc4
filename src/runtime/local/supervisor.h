#pragma once
// Internals of ProcessSupervisor (include/berth/process.h) shared by its two
// ends: the client in berth (supervisor.cc) and the supervisor process
// (supervisor_process.cc; a fork of berth, or the berth-supervisor program).

#include <sys/types.h>

#include <string>

#include "berth/process.h"

namespace berth::runtime::local {

// The value of BERTH_SUPERVISOR_TOKEN for worker `id`.
inline std::string MarkerValue(const std::string& token, const std::string& id) {
  return token + "/" + id;
}

// The body of the supervisor process: serves requests on `sock` until
// told to shut down or until `sock` reaches EOF, then tears everything down
// and _exit()s. `parent` is berth's pid (a second sign of its death: being
// re-parented). `cgroup`: the cgroup berth moves it into ("" for none),
// which it leaves and removes at its end when nothing else is in it.
[[noreturn]] void RunSupervisorProcess(int sock, const SupervisorOptions& options,
                                       const std::string& token, pid_t parent,
                                       const std::string& cgroup);

// The exec'd supervisor (tools/supervisor): its socket is descriptor
// kExecSocketFd; the rest travels in argv, except the token, which travels in
// this environment variable (argv is readable by every user, environ only by
// the owner).
inline constexpr int kExecSocketFd = 3;
inline constexpr const char* kExecTokenEnv = "BERTH_SUPERVISOR_EXEC_TOKEN";

// ExitEvent from a waitpid() status.
ExitEvent MakeExitEvent(const std::string& id, pid_t pid, int wait_status);

}  // namespace berth::runtime::local
