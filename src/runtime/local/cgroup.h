#pragma once
// A run's own cgroup v2: the one place that holds every process of a local
// run, whatever its ancestry, so that what a SIGKILL of berth AND its
// supervisor leaves behind (the workers' detached descendants, re-parented to
// init) can still be found and killed, by `berth down` or the next
// `berth run` on the run dir.
//
// The cgroup is <cgroup2 mount><berth's own v2 cgroup>/berth-<pid>-<16 hex>.
// The cgroup2 mount is read from /proc/self/mounts, not assumed: on a hybrid
// system it sits beside the v1 controllers (/sys/fs/cgroup/unified), on a
// pure v2 one at /sys/fs/cgroup. No controller is enabled: the cgroup only
// groups processes. Creating it needs write access to berth's own cgroup
// (root, or a delegated subtree); without it berth runs without one and says
// so.
//
// The parsing functions work on text and are tested on strings; the others
// touch /proc and the cgroup file system.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/status.h"

namespace berth::runtime::local {

// --- text -----------------------------------------------------------------

// The mount point of the first cgroup2 file system in /proc/self/mounts text,
// its octal escapes (\040 for a space, \011, \012, \134) decoded; nullopt
// when there is none (a pure v1 system, or none mounted).
std::optional<std::string> Cgroup2MountIn(std::string_view proc_mounts);

// The v2 cgroup ("/a/b", "/" for the root) in /proc/self/cgroup text: its
// "0::" line. nullopt when there is none (cgroup v1 only).
std::optional<std::string> OwnCgroupIn(std::string_view proc_self_cgroup);

// "berth-<pid>-<random>": the name berth gives a run's cgroup. `random` is
// 16 lower-case hex digits.
std::string RunCgroupName(pid_t pid, std::string_view random);
// Whether `name` is such a name; its pid in *pid when it is.
bool IsRunCgroupName(std::string_view name, pid_t* pid = nullptr);

// Checks a cgroup path read from a file a user could edit (state.json)
// before berth kills what it holds: absolute, no "." / ".." / empty
// components, strictly under `mount`, its last component a run cgroup name
// made by `berth_pid`. The error (kInvalidSpec) says which rule fails.
Status CheckRunCgroupPath(const std::string& path, const std::string& mount, pid_t berth_pid);

// --- this machine ---------------------------------------------------------

// The cgroup2 mount of this machine (/proc/self/mounts). Error
// (kUnavailable) when there is none.
Result<std::string> Cgroup2Mount();

// <cgroup2 mount><own v2 cgroup>: where berth's run cgroups are made. Error
// (kUnavailable) saying what is missing.
Result<std::string> OwnCgroupDir();

// Makes a fresh run cgroup under OwnCgroupDir(), named for `pid`. Error
// (kUnavailable) with the path and the reason (EACCES, EROFS, ENOENT, ...).
Result<std::string> CreateRunCgroup(pid_t pid);

// Moves process `pid` (with its future children) into the cgroup `dir`.
Status MoveIntoCgroup(const std::string& dir, pid_t pid);

// The processes in `dir` and the cgroups below it (cgroup.procs), empty
// when it does not exist.
std::vector<pid_t> CgroupProcesses(const std::string& dir);

// Whether `dir` or a cgroup below it holds a process (cgroup.events).
bool CgroupPopulated(const std::string& dir);

// Kills every process in `dir` and below it: cgroup.kill (Linux 5.14), or on
// older kernels cgroup.freeze and a SIGKILL to each listed process; waits up
// to `timeout` for it to be empty, then removes it and the cgroups below it.
// Returns the number of processes it held before the kill; 0 when it was
// empty or did not exist. Error (kBackend) when processes survive the
// timeout (their pids named) or it cannot be removed.
Result<int> KillCgroup(const std::string& dir, std::chrono::milliseconds timeout);

// For a checked path of a cgroup berth made (CheckRunCgroupPath): true when
// it is a cgroup2 directory that resolves to itself (no symbolic link on the
// way), false when it does not exist. Error (kInvalidSpec): it is something
// else.
Result<bool> IsCgroupDir(const std::string& path);

// The supervisor's last act: if its own cgroup is `dir` and nothing else is
// in it, move to the parent cgroup and remove `dir`. Best effort.
void LeaveAndRemoveCgroup(const std::string& dir);

}  // namespace berth::runtime::local
