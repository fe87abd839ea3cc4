// libFuzzer target for the experiment YAML adapter and the role layer: text
// in, parse (as an experiment and as one role document), plan on a fixed
// 4 x 8-GPU cluster, render. It must never crash, hang, leak or let an
// exception out, whatever the bytes; a plan it makes must render as valid
// JSON whose workers agree with the plan.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "formats/experiment_yaml.h"
#include "formats/plan_render.h"
#include "roles/ports.h"

namespace {

// Bounds that keep one run in milliseconds: planning is linear in workers,
// and the engine's search is not what this target hunts.
constexpr int kMaxWorkers = 64;
constexpr int kMaxInstance = 32;

bool WithinBounds(const berth::ExperimentSpec& e) {
  int64_t workers = 0;
  for (const berth::RoleSpec& r : e.roles) {
    if (r.instance && int64_t{r.instance->first} * r.instance->second > kMaxInstance) {
      return false;
    }
    for (const berth::SchedulingSpec& s : r.tasks) {
      if (s.gpu > berth::Quantity::Whole(kMaxInstance)) return false;
    }
    workers += r.replicas;
  }
  return workers <= kMaxWorkers;
}

std::vector<berth::NodeSpec> Cluster() {
  std::vector<berth::NodeSpec> nodes;
  for (int i = 0; i < 4; ++i) {
    berth::NodeSpec n;
    n.name = "n";
    n.name += std::to_string(i);
    n.resources.Set(berth::kCpu, berth::Quantity::Whole(64));
    n.resources.Set(berth::kGpu, berth::Quantity::Whole(8));
    n.resources.Set(berth::kMemory, berth::Quantity::Whole(int64_t{512} << 30));
    nodes.push_back(n);
  }
  return nodes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The same bytes as one role document (the control API's and the Python
  // module's job): never a crash, and errors name the source.
  berth::Result<berth::RoleSpec> role = berth::formats::ParseRoleYaml(text, "fuzz-role");
  if (!role && role.error().message().rfind("fuzz-role", 0) != 0) __builtin_trap();
  berth::Result<berth::ExperimentSpec> e = berth::ParseExperiment(text, "fuzz.yaml");
  if (!e) {
    // Every error names the file first.
    if (e.error().message().rfind("fuzz.yaml", 0) != 0) __builtin_trap();
    return 0;
  }
  if (!WithinBounds(*e)) return 0;
  berth::Result<berth::Plan> plan = berth::MakePlan(*e, Cluster(), berth::roles::CountingPorts());
  if (!plan) return 0;
  const std::string json = berth::formats::PlanJson(e->name, *plan);
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j["workers"].size() != plan->workers.size()) __builtin_trap();
  for (const berth::WorkerPlan& w : plan->workers) {
    // Env names are distinct: berth's own cannot be set by a spec.
    for (size_t a = 0; a < w.env.size(); ++a) {
      for (size_t b = a + 1; b < w.env.size(); ++b) {
        if (w.env[a].first == w.env[b].first) __builtin_trap();
      }
    }
  }
  (void)berth::formats::PlanText(e->name, *plan, Cluster(), "fuzz");
  return 0;
}
