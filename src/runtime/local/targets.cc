#include "runtime/local/targets.h"

namespace berth::runtime::local {

std::vector<ProcInfo> SelectTargets(
    const std::vector<ProcInfo>& procs, const TargetQuery& q,
    const std::function<std::optional<std::string>(pid_t)>& marker_of) {
  // With the subreaper set, everything our workers started stays in this
  // subtree, whatever setsid or double fork it did.
  const std::unordered_set<pid_t> ours = Subtree(procs, {q.self});
  const std::unordered_set<pid_t> trees = Subtree(procs, q.roots);
  std::vector<ProcInfo> out;
  for (const ProcInfo& p : procs) {
    if (p.pid == q.self || p.zombie()) continue;
    const bool in_ours = ours.contains(p.pid);
    bool take;
    if (q.all) {
      take = in_ours;
    } else {
      // Group members count only inside our subtree: the id of a group whose
      // members all died could be reused by an unrelated process.
      take = trees.contains(p.pid) || (in_ours && q.groups.contains(p.pgid));
    }
    if (!take && (in_ours || q.full_scan)) {
      std::optional<std::string> m = marker_of(p.pid);
      if (m) take = q.all ? m->starts_with(q.marker_prefix) : q.markers.contains(*m);
    }
    if (take) out.push_back(p);
  }
  return out;
}

}  // namespace berth::runtime::local
