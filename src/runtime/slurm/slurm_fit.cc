#include "runtime/slurm/slurm_fit.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "runtime/slurm/allocation.h"

namespace berth::runtime::slurm {
namespace {

// "16" for whole numbers, "62.5" otherwise; memory in GiB.
std::string Amount(Quantity q, bool memory) {
  if (!memory) return q.ToString();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", q.ToDouble() / (1024.0 * 1024 * 1024));
  return buf;
}

}  // namespace

std::vector<std::string> BusyNodes(const std::vector<NodeSpec>& free,
                                   const std::vector<NodeSpec>& total) {
  std::vector<std::string> out;
  for (const NodeSpec& t : total) {
    auto f =
        std::find_if(free.begin(), free.end(), [&](const NodeSpec& n) { return n.name == t.name; });
    if (f == free.end()) continue;
    std::string used;
    for (auto [name, label, memory] :
         {std::tuple{kCpu, "CPUs", false}, std::tuple{kGpu, "GPUs", false},
          std::tuple{kMemory, "memory", true}}) {
      const Quantity all = t.resources.Get(name);
      const Quantity left = f->resources.Get(name);
      if (all.IsZero() || !(left < all)) continue;
      used += std::string(used.empty() ? "" : ", ") + label + " " + Amount(all - left, memory) +
              "/" + Amount(all, memory) + (memory ? " GiB" : "");
    }
    if (!used.empty()) out.push_back(t.name + " (" + used + " in use)");
  }
  return out;
}

Result<SlurmFit> PlanOnSlurm(const ExperimentSpec& experiment, std::vector<NodeSpec> free,
                             const PortSource& ports, CommandRunner& runner) {
  SlurmFit fit;
  Result<Plan> now = MakePlan(experiment, free, ports);
  if (now) {
    fit.plan = std::move(now).value();
    fit.nodes = std::move(free);
    return fit;
  }
  if (now.error().code() != ErrorCode::kInfeasible &&
      now.error().code() != ErrorCode::kUnavailable) {
    return now.error();
  }
  // Not on what is free now: on the nodes as configured?
  BERTH_ASSIGN_OR_RETURN(
      std::vector<NodeSpec> total,
      ReadCluster(experiment.slurm.partition, nullptr, /*free_only=*/false, runner));
  // Only the nodes that were usable a moment ago.
  std::erase_if(total, [&](const NodeSpec& t) {
    return std::none_of(free.begin(), free.end(),
                        [&](const NodeSpec& f) { return f.name == t.name; });
  });
  BERTH_ASSIGN_OR_RETURN(fit.plan, MakePlan(experiment, total, ports));
  fit.busy = BusyNodes(free, total);
  // The nodes the plan waits for first.
  std::set<std::string> used;
  for (const WorkerPlan& w : fit.plan.workers) used.insert(w.node);
  std::stable_partition(fit.busy.begin(), fit.busy.end(), [&](const std::string& b) {
    return used.contains(b.substr(0, b.find(' ')));
  });
  fit.pending = true;
  fit.nodes = std::move(total);
  return fit;
}

}  // namespace berth::runtime::slurm
