// Placement inside one topology domain (see the header).

#include "placement/topology.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace berth::placement {

std::vector<std::string> Domains(const Cluster& c, const std::string& key) {
  std::map<std::string, std::pair<Units, Units>> free;  // value -> (GPU, CPU) free
  for (const NodeState& n : c.nodes()) {
    if (!n.alive) continue;
    auto it = n.labels.find(key);
    if (it == n.labels.end()) continue;
    auto& [gpu, cpu] = free[it->second];
    gpu += n.free[kGpuId];
    cpu += n.free[kCpuId];
  }
  std::vector<std::tuple<Units, Units, std::string>> order;
  order.reserve(free.size());
  for (const auto& [value, amounts] : free)
    order.emplace_back(amounts.first, amounts.second, value);
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  out.reserve(order.size());
  for (auto& entry : order) out.push_back(std::move(std::get<2>(entry)));
  return out;
}

DomainResult SolveInDomain(const Cluster& c, const SolveRequest& request, const std::string& key,
                           const std::optional<std::string>& only) {
  DomainResult out;
  std::vector<std::string> domains = only ? std::vector<std::string>{*only} : Domains(c, key);
  std::vector<BundleDemand> restricted(request.bundles.begin(), request.bundles.end());
  for (const std::string& value : domains) {
    for (size_t b = 0; b < restricted.size(); ++b) {
      restricted[b].labels = request.bundles[b].labels;
      restricted[b].labels.push_back({key, false, {value}});
    }
    SolveRequest r = request;
    r.bundles = restricted;
    out.solve = Solve(c, r);
    if (out.solve.found) {
      out.domain = value;
      return out;
    }
  }
  out.solve = SolveResult{};
  return out;
}

}  // namespace berth::placement
