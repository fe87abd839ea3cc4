// Forks' reservations in their target's bundles and grouped (N:M)
// colocation (AReaL #1575): see fork_share.h.

#include "roles/fork_share.h"

#include <algorithm>
#include <map>

#include "common/text.h"
#include "roles/tasks.h"

namespace berth::roles {

using common::Quote;

size_t ForkGroupSize(size_t fork_workers, size_t target_workers) {
  if (fork_workers == 0 || fork_workers >= target_workers) return 1;
  return target_workers % fork_workers == 0 ? target_workers / fork_workers : 1;
}

Result<std::vector<ForkReserve>> ForkReservations(const RoleSpec& fork, size_t fork_index,
                                                  size_t target_workers) {
  BERTH_ASSIGN_OR_RETURN(std::vector<SchedulingSpec> tasks, WorkerTasks(fork, fork_index));
  std::vector<ForkReserve> per_fork;
  for (size_t w = 0; w < tasks.size(); ++w) {
    BERTH_ASSIGN_OR_RETURN(Quantity mem,
                           MemBytes(tasks[w].mem_gib, SpecPath(fork_index, fork, w) + ".mem"));
    per_fork.push_back({tasks[w].cpu, mem});
  }
  const size_t k = ForkGroupSize(tasks.size(), target_workers);
  if (k == 1) {
    if (per_fork.size() > target_workers) per_fork.resize(target_workers);
    return per_fork;
  }
  ForkReserve most;
  for (const ForkReserve& r : per_fork) {
    most.cpu = std::max(most.cpu, r.cpu);
    most.mem_bytes = std::max(most.mem_bytes, r.mem_bytes);
  }
  const auto n = static_cast<int64_t>(k);
  const ForkReserve share{Quantity::Units((most.cpu.units() + n - 1) / n),
                          Quantity::Units((most.mem_bytes.units() + n - 1) / n)};
  return std::vector<ForkReserve>(target_workers, share);
}

Status CheckForkReservation(const RoleSpec& fork, size_t fork_index,
                            const std::vector<SchedulingSpec>& tasks, const std::string& target,
                            const std::vector<ForkReserve>* reserved, size_t target_workers) {
  const size_t k = ForkGroupSize(tasks.size(), target_workers);
  for (size_t w = 0; w < tasks.size(); ++w) {
    const SchedulingSpec& t = tasks[w];
    BERTH_ASSIGN_OR_RETURN(Quantity mem, MemBytes(t.mem_gib, SpecPath(fork_index, fork, w)));
    ForkReserve have;
    if (reserved != nullptr && k > 1 && !reserved->empty()) {
      // The least any k of them hold.
      ForkReserve least = reserved->front();
      for (const ForkReserve& r : *reserved) {
        least.cpu = std::min(least.cpu, r.cpu);
        least.mem_bytes = std::min(least.mem_bytes, r.mem_bytes);
      }
      const auto n = static_cast<int64_t>(k);
      have = {Quantity::Units(least.cpu.units() * n), Quantity::Units(least.mem_bytes.units() * n)};
    } else if (reserved != nullptr && w < reserved->size()) {
      have = (*reserved)[w];
    }
    if (t.cpu <= have.cpu && mem <= have.mem_bytes) continue;
    return InvalidSpec(
        SpecPath(fork_index, fork, w) + ": the fork asks for cpu " + t.cpu.ToString() +
        " and mem " + t.mem_gib.ToString() + " GiB in the bundle of " + Quote(target) + "/" +
        std::to_string(w) + ", which was placed with room for cpu " + have.cpu.ToString() +
        " and " + have.mem_bytes.ToString() +
        " bytes for it (a placed bundle cannot grow); declare the fork before its target is "
        "created (berth run does this from the experiment file), or give it cpu 0 and mem 0");
  }
  return Status::Ok();
}

Result<std::vector<std::vector<int>>> GroupedBlocks(
    const std::vector<std::vector<Slot>>& target_slots, const std::string& target, size_t instances,
    size_t k, const std::string& who) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<int>> by_node;
  for (size_t i = 0; i < target_slots.size(); ++i) {
    const std::string& node = target_slots[i][0].node;
    if (!by_node.contains(node)) order.push_back(node);
    by_node[node].push_back(static_cast<int>(i));
  }
  std::vector<std::vector<int>> blocks;
  std::string counts;
  for (const std::string& node : order) {
    const std::vector<int>& on = by_node[node];
    counts += (counts.empty() ? "" : ", ") + node + ": " + std::to_string(on.size());
    for (size_t b = 0; b + k <= on.size(); b += k) {
      blocks.emplace_back(on.begin() + static_cast<std::ptrdiff_t>(b),
                          on.begin() + static_cast<std::ptrdiff_t>(b + k));
    }
  }
  if (blocks.size() < instances) {
    return Infeasible(who + ": grouped colocation needs " + std::to_string(instances) +
                      " groups of " + std::to_string(k) + " workers of " + Quote(target) +
                      " on one node each, and its workers stand " + counts + " (" +
                      std::to_string(blocks.size()) + " whole groups); give " + Quote(target) +
                      " a number of workers per node that is a multiple of " + std::to_string(k) +
                      " (whole nodes), or make the instances smaller");
  }
  blocks.resize(instances);
  return blocks;
}

Slot UnionSlot(const std::vector<std::vector<Slot>>& target_slots, const std::vector<int>& block) {
  Slot s = target_slots[static_cast<size_t>(block.front())][0];
  for (size_t b = 1; b < block.size(); ++b) {
    for (const GpuShare& g : target_slots[static_cast<size_t>(block[b])][0].gpus) {
      const bool seen = std::any_of(s.gpus.begin(), s.gpus.end(),
                                    [&](const GpuShare& h) { return h.device == g.device; });
      if (!seen) s.gpus.push_back(g);
    }
  }
  return s;
}

}  // namespace berth::roles
