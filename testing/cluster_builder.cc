#include "testing/cluster_builder.h"

#include <cstdio>
#include <cstdlib>

namespace berth::testing {

ResourceSet Res(std::initializer_list<std::pair<const char*, double>> items) {
  ResourceSet r;
  for (const auto& [name, v] : items) {
    auto q = Quantity::FromDouble(v, name);
    if (!q) {
      std::fprintf(stderr, "bad test quantity: %s\n", q.error().ToString().c_str());
      std::abort();
    }
    r.Set(name, *q);
  }
  return r;
}

std::vector<NodeSpec> Nodes(int n, const ResourceSet& each, const std::string& prefix) {
  std::vector<NodeSpec> out;
  for (int i = 0; i < n; ++i) out.push_back({prefix + std::to_string(i), each, {}});
  return out;
}

PlacementEngine EngineWith(const std::vector<NodeSpec>& nodes) {
  PlacementEngine e;
  for (const NodeSpec& n : nodes) {
    Status s = e.AddNode(n);
    if (!s.ok()) {
      std::fprintf(stderr, "bad test node: %s\n", s.ToString().c_str());
      std::abort();
    }
  }
  return e;
}

GroupSpec Group(const std::string& name, Strategy s, std::vector<ResourceSet> bundles) {
  return GroupSpec{.name = name, .strategy = s, .bundles = std::move(bundles)};
}

}  // namespace berth::testing
