#include "run/leftovers.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <vector>

#include "runtime/local/cgroup.h"
#include "runtime/local/proc_scan.h"

namespace berth::run {
namespace {

// Long enough for processes that must first leave the kernel (state D).
constexpr std::chrono::milliseconds kKillTimeout{10000};

bool Alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

bool EndLeftoverCgroup(const formats::RunState& state, const std::string& who) {
  namespace local = runtime::local;
  const std::string& dir = state.cgroup;
  if (dir.empty()) return true;
  // state.json is a file a user can edit: only a cgroup berth made for this
  // run is ever killed, never one the file merely names.
  Result<std::string> mount = local::Cgroup2Mount();
  Status checked = mount ? local::CheckRunCgroupPath(dir, *mount, state.berth_pid) : mount.error();
  Result<bool> exists = checked.ok() ? local::IsCgroupDir(dir) : Result<bool>(checked);
  if (!exists) {
    std::fprintf(stderr, "%s: state.json's cgroup left alone: %s\n", who.c_str(),
                 exists.error().message().c_str());
    return false;
  }
  if (!*exists) return true;  // removed by its supervisor, or by an earlier down
  // The run's berth may still run it: its supervisor (in the cgroup) is then
  // its child. A berth pid reused by another process has no child there.
  if (Alive(state.berth_pid)) {
    for (pid_t pid : local::CgroupProcesses(dir)) {
      std::optional<local::ProcInfo> p = local::ReadProc(pid);
      if (p && p->ppid == state.berth_pid) {
        std::fprintf(stderr, "%s: cgroup %s left alone: berth (pid %d) still runs it\n",
                     who.c_str(), dir.c_str(), state.berth_pid);
        return false;
      }
    }
  }
  Result<int> killed = local::KillCgroup(dir, kKillTimeout);
  if (!killed) {
    std::fprintf(stderr, "%s: %s\n", who.c_str(), killed.error().message().c_str());
    return false;
  }
  if (*killed > 0) {
    std::printf("killed %d process(es) left in cgroup %s by berth pid %d\n", *killed, dir.c_str(),
                state.berth_pid);
    std::fflush(stdout);
  }
  return true;
}

}  // namespace berth::run
