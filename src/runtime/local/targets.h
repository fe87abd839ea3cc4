#pragma once
// Which processes a termination must signal: a pure choice over a snapshot of
// the process table, so that it can be tested on made-up tables.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "runtime/local/proc_scan.h"

namespace berth::runtime::local {

struct TargetQuery {
  pid_t self = 0;  // the supervisor: never a target; its subtree is "ours"
  // Everything: our whole subtree, and anything carrying `marker_prefix`.
  bool all = false;
  std::string marker_prefix;  // "<token>/"
  // Some workers: the subtrees of their live main pids, the members of their
  // process groups, and anything carrying one of their markers.
  std::unordered_set<pid_t> roots;
  std::unordered_set<pid_t> groups;
  std::unordered_set<std::string> markers;
  // Also read the markers of processes outside our subtree (costly; with the
  // subreaper set, only an escape through some other daemon puts one there).
  bool full_scan = false;
};

// The live (non-zombie) processes of `procs` that `q` selects. `marker_of`
// reads a process's BERTH_SUPERVISOR_TOKEN; it is only called for processes
// not already selected otherwise.
std::vector<ProcInfo> SelectTargets(
    const std::vector<ProcInfo>& procs, const TargetQuery& q,
    const std::function<std::optional<std::string>(pid_t)>& marker_of);

}  // namespace berth::runtime::local
