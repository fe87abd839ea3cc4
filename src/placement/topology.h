#pragma once
// Placement inside one topology domain (berth/placement.h, Topology): the
// domains are the values of a node label; a group is solved once per domain,
// restricted to it by a label term on every bundle, fullest domain first.

#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "placement/cluster.h"
#include "placement/solver.h"

namespace berth::placement {

struct DomainResult {
  SolveResult solve;
  std::string domain;  // where it was found, when found inside one
};

// The values of `key` among live nodes, the domain with the least free GPU
// (then CPU) first, so that a group fits the fullest domain that holds it and
// larger domains stay whole; ties by value.
std::vector<std::string> Domains(const Cluster& c, const std::string& key);

// Solves `request` inside each domain of `key` in turn (only `only` when it
// is set: the domain a rescheduled group already uses); the first found wins.
DomainResult SolveInDomain(const Cluster& c, const SolveRequest& request, const std::string& key,
                           const std::optional<std::string>& only);

}  // namespace berth::placement
