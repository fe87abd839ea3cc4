#pragma once
// A role's per-worker requests, as the planner reserves them: the spec list
// expanded to one spec per worker and scaled by the instance size.

#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/resources.h"
#include "berth/status.h"

namespace berth::roles {

// "roles[1]".
std::string RolePath(size_t role_index);
// "roles[1].scheduling_spec", or "roles[1].scheduling_spec[k]" when the role
// has one spec per worker.
std::string SpecPath(size_t role_index, const RoleSpec& role, size_t worker);

// One spec per worker (`replicas` of them), scaled for a rollout role as
// AReaL's RolloutController does: cpu and mem times tp*pp, gpu = tp*pp when
// gpu > 0. Errors when a product leaves Quantity's range. An alias gets none.
Result<std::vector<SchedulingSpec>> WorkerTasks(const RoleSpec& role, size_t role_index);

// GiB -> bytes, exactly (a Quantity of bytes keeps 1e-4 resolution, and
// 2^30 * 1e-4 GiB is a whole number of 1e-4 bytes). Errors above 1e14 bytes.
Result<Quantity> MemBytes(Quantity mem_gib, const std::string& field);

// The largest mem that MemBytes accepts, in GiB (about 93132).
Quantity MaxMemGib();

}  // namespace berth::roles
