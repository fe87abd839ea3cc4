#pragma once
// The role layer one role at a time: a placement engine that lives as long as
// the roles on it, so that roles can be added and removed while others run
// (the Scheduler), or all added in launch order (MakePlan, whose plan is the
// same either way).
//
// A placed bundle cannot grow. A forked role's cpu and mem therefore have to
// be reserved in its target's bundles when the TARGET is placed: Add() takes
// the forks to reserve for. A fork added later uses its reservation; a fork
// without one may only declare cpu 0 and mem 0 (AReaL's forks declare none).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "berth/plan.h"

namespace berth::roles {

// A role colocated with fork: true on the role being added, and its index
// in the experiment (for error paths).
struct ForkRole {
  size_t index = 0;
  RoleSpec spec;
};

struct PlacedRole {
  std::vector<WorkerPlan> workers;  // index order (a deferred instance: head first)
  std::vector<std::string> groups;  // the placement groups it created
  std::string alias_of;             // colocation with fork: false: the target
  std::vector<std::string> warnings;
};

struct RoleEntry;  // role_planner.cc

class RolePlanner {
 public:
  // The cluster; a node's address is its label "address", else its name.
  static Result<RolePlanner> Create(const std::vector<NodeSpec>& nodes);

  RolePlanner(RolePlanner&& other) noexcept;
  RolePlanner& operator=(RolePlanner&& other) noexcept;
  ~RolePlanner();

  // Places `role` and builds its workers (ports from `ports`). `role_index`
  // names it in error paths ("roles[2].scheduling_spec..."). `forks`: roles
  // colocated on it with fork: true whose cpu and mem are reserved in its
  // bundles now. REQUIRES: `role` (and `forks`) passed ValidateExperiment
  // together with the roles already added; a colocated role's target was
  // added. On error nothing stays placed.
  Result<PlacedRole> Add(const RoleSpec& role, size_t role_index,
                         const std::vector<ForkRole>& forks, const PortSource& ports);

  // Releases the role's groups and forgets it. Errors: kNotFound.
  // REQUIRES: no role still added is colocated on it.
  Status Remove(const std::string& role);

  // The workers of the instances `indices` (WorkerPlan::index) of an added
  // role, built again on the bundles they hold, with new ports: the same
  // nodes and devices for a restart. A forked role's stand on its target's
  // bundles. `indices` empty: every worker the role has now (a gang whose
  // count of processes follows its nodes, as per-node torchrun launchers
  // do). Errors: kNotFound, kInvalidSpec for an alias, a port source
  // failure, kUnavailable or kInfeasible for a worker whose bundle lost its
  // node and found no other place (the engine's explanation attached).
  Result<std::vector<WorkerPlan>> Rebuild(const std::string& role, const std::vector<int>& indices,
                                          const PortSource& ports) const;

  // Grows or shrinks a separate or deferred role to `replicas` instances.
  // Growing places one group per new instance under the role's strategy
  // (all or none: on error nothing new stays placed), with room in each
  // head bundle for the forks on the role as their first instance had, and
  // returns the new workers, the role's then its forks', built with ports
  // from `ports`. Shrinking releases the groups of the highest instances
  // and returns nothing (the caller stops their workers first). The forks
  // on the role follow. Errors: kNotFound, kInvalidSpec for a shared role,
  // a colocated one, or one with a spec per worker; kUnavailable or
  // kInfeasible, explained, when the new instances do not fit.
  Result<std::vector<WorkerPlan>> Resize(const std::string& role, int replicas,
                                         const PortSource& ports);
  // Resize's refusals for the role as it is, without changing anything:
  // kNotFound, kInvalidSpec (shared, colocated, a spec per worker).
  Status CheckResizable(const std::string& role) const;

  // A node is gone (a Slurm node down, say): its capacity leaves the
  // cluster, and each group that had bundles on it places those again under
  // its strategy where they fit, its other bundles staying where they are
  // (PlacementEngine::RemoveNode). The roles' workers follow at their next
  // Rebuild; one whose bundle found no place fails to build, explained.
  // Errors: kNotFound.
  Status RemoveNode(const std::string& node);

  // How an added role is placed, after the rollout and auto-deferral rules
  // (a colocated role: its target's); nullopt when it is not added.
  std::optional<PlacementMode> ModeOf(const std::string& role) const;

  bool Has(const std::string& role) const;
  const PlacementEngine& engine() const;

 private:
  struct State;
  Result<std::vector<WorkerPlan>> BuildRole(const RoleEntry& rp, const RoleEntry* target,
                                            const PortSource& ports) const;
  explicit RolePlanner(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace berth::roles
