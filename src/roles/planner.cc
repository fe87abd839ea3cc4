// MakePlan: every role of an experiment placed with a RolePlanner, in launch
// order (the roles that own bundles in file order, then the colocated ones),
// each target reserving room for the forks colocated on it.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "berth/plan.h"
#include "roles/comm_groups.h"
#include "roles/role_planner.h"

namespace berth {

Result<Plan> MakePlan(const ExperimentSpec& experiment, const std::vector<NodeSpec>& nodes,
                      const PortSource& ports) {
  BERTH_RETURN_IF_ERROR(ValidateExperiment(experiment));
  BERTH_ASSIGN_OR_RETURN(roles::RolePlanner planner, roles::RolePlanner::Create(nodes));
  Plan plan;
  std::map<std::string, std::string> group_role;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t r = 0; r < experiment.roles.size(); ++r) {
      const RoleSpec& role = experiment.roles[r];
      if (role.colocation.has_value() != (pass == 1)) continue;
      std::vector<roles::ForkRole> forks;
      for (size_t f = 0; f < experiment.roles.size(); ++f) {
        const RoleSpec& other = experiment.roles[f];
        if (other.colocation && other.colocation->fork && other.colocation->target == role.name) {
          forks.push_back({f, other});
        }
      }
      BERTH_ASSIGN_OR_RETURN(roles::PlacedRole placed, planner.Add(role, r, forks, ports));
      for (std::string& w : placed.warnings) plan.warnings.push_back(std::move(w));
      for (const std::string& g : placed.groups) group_role[g] = role.name;
      if (!placed.alias_of.empty()) plan.aliases.emplace_back(role.name, placed.alias_of);
      for (WorkerPlan& w : placed.workers) plan.workers.push_back(std::move(w));
    }
  }
  for (GroupView& g : planner.engine().Groups()) {
    plan.groups.push_back({group_role[g.name], std::move(g)});
  }
  // Communication groups, version 1: the rendezvous on the first member's
  // node, a port of its own there.
  for (const CommGroupSpec& spec : experiment.comm_groups) {
    CommGroup group;
    group.name = spec.name;
    for (const WorkerPlan* w : roles::CommGroupMembers(spec, plan.workers)) {
      group.members.push_back(w->id);
      if (group.members.size() > 1) continue;
      group.master_addr = w->address;
      BERTH_ASSIGN_OR_RETURN(group.master_port, ports(w->node));
    }
    roles::SetCommGroupEnv(group, plan.workers);
    plan.comm_groups.push_back(std::move(group));
  }
  return plan;
}

}  // namespace berth
