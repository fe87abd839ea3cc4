#pragma once
// Helpers for the role layer's tests: plan a YAML experiment on a few nodes
// and look things up in the result.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "placement/explain_text.h"
#include "roles/ports.h"

namespace berth::roles::testutil {

constexpr double kGib = 1024.0 * 1024 * 1024;

// n nodes n0, n1, ... with address 10.0.0.<i>.
inline std::vector<NodeSpec> GpuNodes(int n, int gpus, double cpu = 64, double mem_gib = 512) {
  std::vector<NodeSpec> out;
  for (int i = 0; i < n; ++i) {
    NodeSpec node;
    // Appended: "n" + to_string trips GCC 12's -Wrestrict false positive.
    node.name = "n";
    node.name += std::to_string(i);
    node.resources.Set(kCpu, *Quantity::FromDouble(cpu, "cpu"));
    node.resources.Set(kMemory, *Quantity::FromDouble(mem_gib * kGib, "mem"));
    if (gpus > 0) node.resources.Set(kGpu, Quantity::Whole(gpus));
    std::string address = "10.0.0.";
    address += std::to_string(i);
    node.labels["address"] = address;
    out.push_back(std::move(node));
  }
  return out;
}

inline Result<Plan> PlanYaml(const std::string& yaml, const std::vector<NodeSpec>& nodes) {
  Result<ExperimentSpec> e = ParseExperiment(yaml, "t.yaml");
  if (!e) return e.error();
  return MakePlan(*e, nodes, CountingPorts());
}

inline Plan MustPlan(const std::string& yaml, const std::vector<NodeSpec>& nodes) {
  Result<Plan> p = PlanYaml(yaml, nodes);
  if (!p) {
    ADD_FAILURE() << p.error().ToString();
    return Plan();
  }
  return std::move(p).value();
}

inline std::string PlanError(const std::string& yaml, const std::vector<NodeSpec>& nodes) {
  Result<Plan> p = PlanYaml(yaml, nodes);
  if (p) {
    ADD_FAILURE() << "planned, but an error was expected";
    return "";
  }
  // What a person reads: the message and the engine's per-node lines.
  return placement::ErrorText(p.error());
}

inline const WorkerPlan& Worker(const Plan& plan, const std::string& id) {
  for (const WorkerPlan& w : plan.workers) {
    if (w.id == id) return w;
  }
  ADD_FAILURE() << "no worker " << id;
  static const WorkerPlan none;
  return none;
}

inline const GroupView& Group(const Plan& plan, const std::string& name) {
  for (const PlannedGroup& g : plan.groups) {
    if (g.group.name == name) return g.group;
  }
  ADD_FAILURE() << "no group " << name;
  static const GroupView none;
  return none;
}

inline std::string Env(const WorkerPlan& w, const std::string& name) {
  for (const auto& [k, v] : w.env) {
    if (k == name) return v;
  }
  return "<unset>";
}

inline std::vector<std::string> EnvNames(const WorkerPlan& w) {
  std::vector<std::string> out;
  for (const auto& kv : w.env) out.push_back(kv.first);
  return out;
}

inline std::vector<int> Devices(const WorkerPlan& w) {
  std::vector<int> out;
  for (const GpuShare& g : w.gpus) out.push_back(g.device);
  return out;
}

inline std::vector<std::string> Ids(const Plan& plan) {
  std::vector<std::string> out;
  for (const WorkerPlan& w : plan.workers) out.push_back(w.id);
  return out;
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace berth::roles::testutil
