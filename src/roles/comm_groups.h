#pragma once
// Communication groups (include/berth/experiment.h, CommGroupSpec): which
// workers are members, in which rank order, where they meet, and what each
// member is told in its env. Pure: the workers and ports come from the
// caller (MakePlan for the plan's version 1; the Scheduler for the versions
// that follow a scale, a restart or a drop).

#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "berth/status.h"

namespace berth::roles {

// Checks the experiment's groups against its roles: names (1-32 of
// [A-Za-z0-9_], starting with a letter, unique), at least one member, each
// member a role of the experiment with workers of its own (not an alias),
// ranks below its replicas and given once. Errors start with the field path
// ("groups[1].members[0].role: ...").
Status CheckCommGroups(const ExperimentSpec& e);

// The members of `spec` among `workers`, in rank order: the spec's members in
// order; within one, the role's workers in the order given (index order; a
// deferred instance's head first), those whose index is in its ranks.
std::vector<const WorkerPlan*> CommGroupMembers(const CommGroupSpec& spec,
                                                const std::vector<WorkerPlan>& workers);

// "BERTH_GROUP_WEIGHTS_" for "weights".
std::string CommGroupEnvPrefix(const std::string& name);

// Sets, in the env of each worker of `workers` that is a member of `group`,
// the group's variables (replacing earlier values): _RANK, _WORLD_SIZE,
// _MASTER_ADDR, _MASTER_PORT, _VERSION.
void SetCommGroupEnv(const CommGroup& group, std::vector<WorkerPlan>& workers);

}  // namespace berth::roles
