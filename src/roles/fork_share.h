#pragma once
// What a forked role takes from its target: cpu and mem reserved in the
// target's bundles before they are placed (a placed bundle cannot grow),
// and, in grouped (N:M) colocation, which of the target's workers each fork
// instance runs over once they are placed. Used by RolePlanner.

#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/status.h"
#include "roles/worker_env.h"

namespace berth::roles {

// What a fork reserves in one target worker's head bundle.
struct ForkReserve {
  Quantity cpu;
  Quantity mem_bytes;
};

// Target workers per fork instance: k when the fork has fewer workers and
// their count divides the target's (grouped colocation), else 1 (worker i
// on target worker i).
size_t ForkGroupSize(size_t fork_workers, size_t target_workers);

// Per target worker, what the fork role reserves in it: 1:1, fork worker
// w's cpu and mem in target worker w; grouped, a k-th of the largest fork
// instance's (rounded up) in every target worker, so that whichever k of
// them on one node an instance gets hold what it asks for. Errors: a bad
// mem (naming the field).
Result<std::vector<ForkReserve>> ForkReservations(const RoleSpec& fork, size_t fork_index,
                                                  size_t target_workers);

// A fork added after its target: each of its workers (`tasks`, scaled) must
// fit what `reserved` (nullptr: nothing) kept for it in `target`'s bundles.
Status CheckForkReservation(const RoleSpec& fork, size_t fork_index,
                            const std::vector<SchedulingSpec>& tasks, const std::string& target,
                            const std::vector<ForkReserve>* reserved, size_t target_workers);

// Grouped colocation: the target workers each of `instances` fork instances
// runs over. The target's workers are taken node by node (in the order of
// their first worker), each node's in worker order, k at a time: an instance
// is one process on one node. Errors (naming `who`, each node's count) when
// fewer than `instances` whole groups of k stand on one node.
Result<std::vector<std::vector<int>>> GroupedBlocks(
    const std::vector<std::vector<Slot>>& target_slots, const std::string& target, size_t instances,
    size_t k, const std::string& who);

// The slot of a fork instance over `block`: the first worker's bundle, with
// the devices of all of them (each once).
Slot UnionSlot(const std::vector<std::vector<Slot>>& target_slots, const std::vector<int>& block);

}  // namespace berth::roles
