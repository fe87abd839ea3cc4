#pragma once
// Reading the process table from /proc, and signalling a process without
// hitting an unrelated one that reused its pid.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace berth::runtime::local {

struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  char state = '?';        // R, S, D, Z, T, ...
  std::string comm;        // the program's name (changes at exec), at most 15 bytes
  uint64_t starttime = 0;  // clock ticks after boot: (pid, starttime) names one process
  bool zombie() const { return state == 'Z' || state == 'X'; }
};

// /proc/<pid>/stat, parsed; nullopt if the process is gone.
std::optional<ProcInfo> ReadProc(pid_t pid);
// Every process visible in /proc (those that vanish while reading are skipped).
std::vector<ProcInfo> ListProcesses();

// The value of `var` in the process's environment as it was at exec
// (/proc/<pid>/environ); nullopt if absent, unreadable, or the process is gone
// or a zombie.
std::optional<std::string> ReadEnvVar(pid_t pid, const std::string& var);

// The pids in `procs` that are in `roots` or descend from one of them through
// ppid links.
std::unordered_set<pid_t> Subtree(const std::vector<ProcInfo>& procs,
                                  const std::unordered_set<pid_t>& roots);

// Sends `sig` to p if p.pid still names the process with p.starttime (through a
// pidfd, so that the check and the signal refer to the same process). Returns
// false if it is gone.
bool SignalProcess(const ProcInfo& p, int sig);

// Threads of the calling process.
int CountThreads();

// "No such file or directory (ENOENT)".
std::string ErrnoText(int err);

}  // namespace berth::runtime::local
