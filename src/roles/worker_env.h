#pragma once
// The workers of one role, once its bundles are placed: ids, ports, the
// environment berth gives each one and its expanded argv. The variables and
// their order are listed in include/berth/plan.h.

#include <map>
#include <string>
#include <vector>

#include "berth/plan.h"

namespace berth::roles {

// Where one process runs: a bundle of a placed group.
struct Slot {
  std::string group;
  int bundle = 0;
  std::string node;
  std::vector<GpuShare> gpus;
};

struct EnvContext {
  const PortSource& ports;
  const std::map<std::string, std::string>& addresses;  // node -> address
};

struct RoleWorkers {
  const RoleSpec* role = nullptr;
  size_t role_index = 0;                               // for error paths
  const std::vector<SchedulingSpec>* tasks = nullptr;  // one per worker, scaled
  // Per worker, its processes' slots: one, or one per node of a deferred
  // instance (head first). A fork's are its target's (the head's, for a
  // deferred target).
  std::vector<std::vector<Slot>> slots;
  std::string fork_of;  // a forked role: its target role
  // A forked role in grouped (N:M) colocation: per worker, the target
  // workers whose devices it runs on (its slot is their union). Empty: 1:1,
  // worker i on target worker i.
  std::vector<std::vector<int>> fork_targets;
  bool training = false;  // torchrun's variables (shared, or a fork of shared)
  bool deferred = false;  // NNODES, NODE_RANK, BERTH_HEAD_*
};

// Worker i's processes get ids "<role>/<i>" (head) and "<role>/<i>.<r>"
// (node rank r of a deferred instance), ports from ctx.ports in spec order
// (plus "master" for rank 0 of a training role and "rendezvous" for a
// deferred head, unless declared), then their env and argv. Only a deferred
// instance's head carries the role's readiness check: the others (headless
// vLLM, SGLang's non-zero node ranks) serve nothing to probe, and the
// instance is ready when its head is. Errors: a port source failure, an
// unknown placeholder (naming the cmd element and the worker).
// A role with a launcher preset (roles/launcher.h) gets the preset's argv,
// ports and env instead of its cmd; torchrun per node folds the ranks into
// one process per node first; a placed instance its preset cannot run is an
// error naming the field and the fix.
Result<std::vector<WorkerPlan>> BuildWorkers(const RoleWorkers& given, const EnvContext& ctx);

}  // namespace berth::roles
