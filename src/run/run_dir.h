#pragma once
// The run directory of one `berth run`, held for the whole run: created
// private (0700), locked so that a second `berth run` there is refused, and
// checked for symbolic links planted where berth writes.
//
// The lock is flock(2) on <run dir>/berth.lock, which holds the pid and the
// start time of the berth that has it. The kernel drops a flock when its last
// descriptor closes, so a berth killed with SIGKILL leaves the directory free
// again; the descriptor is close-on-exec and taken after the supervisor
// started, so no worker, srun or supervisor keeps it. The file itself stays.
// `berth status` and `berth down` do not take it.

#include <optional>
#include <string>

#include "berth/status.h"
#include "common/safe_open.h"

namespace berth::run {

inline constexpr char kRunLockName[] = "berth.lock";

class RunDirectory {
 public:
  // Creates `path` when missing (0700 whatever the umask, with its missing
  // parents), opens it and takes its lock before anything in it is touched:
  // held by another berth, kUnavailable "run dir X is in use by berth pid N
  // (started T); stop it with `berth down X` or pick another run_dir". Then
  // refuses (kInvalidSpec, naming it) a symbolic link at any name berth
  // writes, in the directory or in logs/, and creates logs/ 0700 (a link
  // there refused too). `path` may itself go through links: it is the user's.
  static Result<RunDirectory> Take(const std::string& path);

  // The pid of the berth that holds `path`'s lock now; nullopt when none
  // does (or the directory has no lock file). Takes nothing: a shared
  // flock tried and dropped at once. For `berth down`, which must stop the
  // berth that runs there even before its state.json names it.
  static std::optional<int> LockHolder(const std::string& path);

  int fd() const { return dir_.get(); }
  const std::string& path() const { return path_; }

 private:
  RunDirectory(std::string path, common::UniqueFd dir, common::UniqueFd lock)
      : path_(std::move(path)), dir_(std::move(dir)), lock_(std::move(lock)) {}

  std::string path_;
  common::UniqueFd dir_;
  common::UniqueFd lock_;  // LOCK_EX while it is open
};

}  // namespace berth::run
