#pragma once
// Builders for tests and benchmarks: clusters and groups in one line.

#include <string>
#include <vector>

#include "berth/placement.h"

namespace berth::testing {

// Resources in plain numbers, e.g. Res({{"CPU", 8}, {"GPU", 0.5}}).
ResourceSet Res(std::initializer_list<std::pair<const char*, double>> items);

// n nodes named prefix0..prefix{n-1} with the same resources.
std::vector<NodeSpec> Nodes(int n, const ResourceSet& each, const std::string& prefix = "n");

// Adds the nodes to a new engine; aborts on error (test input is ours).
PlacementEngine EngineWith(const std::vector<NodeSpec>& nodes);

GroupSpec Group(const std::string& name, Strategy s, std::vector<ResourceSet> bundles);

}  // namespace berth::testing
