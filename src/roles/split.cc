// SplitInstance: AReaL's _create_bundle_specs_split, digit for digit.

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "berth/plan.h"

namespace berth {
namespace {

constexpr int64_t kExactLimit = int64_t{1} << 53;

// Python's int(round(num / den)) for 0 <= num <= 2^53, den > 0. Python's
// int / int is correctly rounded to a double, as is this division when both
// operands are exact doubles; round() then goes half to even, which is
// nearbyint under the default rounding mode (set here in case a caller
// changed it).
int64_t RoundDiv(int64_t num, int64_t den) {
  const int saved = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double q = static_cast<double>(num) / static_cast<double>(den);
  const auto r = static_cast<int64_t>(std::nearbyint(q));
  std::fesetround(saved);
  return r;
}

}  // namespace

Result<std::vector<SplitBundle>> SplitInstance(int64_t gpus_per_node, int64_t cpu, int64_t gpu,
                                               int64_t mem) {
  if (cpu < 0 || gpu < 0 || mem < 0) {
    return InvalidSpec("cannot split an instance with a negative request (cpu " +
                       std::to_string(cpu) + ", gpu " + std::to_string(gpu) + ", mem " +
                       std::to_string(mem) + ")");
  }
  if (gpu == 0) return std::vector<SplitBundle>{{cpu, 0, mem}};
  if (gpus_per_node <= 0) {
    return Infeasible("n_gpus_per_node must be > 0, got " + std::to_string(gpus_per_node) +
                      "; an instance of " + std::to_string(gpu) + " GPUs needs nodes with GPUs");
  }
  // cpu * g <= cpu * gpu: bounding the latter keeps every product exact.
  if ((cpu > 0 && gpu > kExactLimit / cpu) || (mem > 0 && gpu > kExactLimit / mem)) {
    return InvalidSpec("cannot split an instance of " + std::to_string(gpu) + " GPUs, cpu " +
                       std::to_string(cpu) + ", mem " + std::to_string(mem) +
                       " exactly: cpu*gpu and mem*gpu must stay below 2^53");
  }
  std::vector<int64_t> gpu_per_node(gpu / gpus_per_node, gpus_per_node);
  if (gpu % gpus_per_node != 0) gpu_per_node.push_back(gpu % gpus_per_node);
  std::vector<SplitBundle> bundles;
  bundles.reserve(gpu_per_node.size());
  int64_t cpu_left = cpu;
  int64_t mem_left = mem;
  for (size_t i = 0; i < gpu_per_node.size(); ++i) {
    const int64_t g = gpu_per_node[i];
    if (i + 1 == gpu_per_node.size()) {
      // The remainder goes to the last bundle. When several bundles round
      // up, it goes negative (cpu 3 over 65 GPUs on 16-GPU nodes: 1, 1, 1,
      // 1, then -1); AReaL would hand Ray that bundle. Refuse it instead.
      if (cpu_left < 0 || mem_left < 0) {
        return InvalidSpec(
            "splitting an instance of " + std::to_string(gpu) + " GPUs, cpu " +
            std::to_string(cpu) + ", mem " + std::to_string(mem) + " over " +
            std::to_string(gpus_per_node) +
            "-GPU nodes rounds the first bundles up and leaves the last one " +
            (cpu_left < 0 ? "cpu " + std::to_string(cpu_left) : "mem " + std::to_string(mem_left)) +
            "; give more cpu and mem, or a GPU count that divides evenly");
      }
      bundles.push_back({cpu_left, g, mem_left});
      break;
    }
    const int64_t c = RoundDiv(cpu * g, gpu);
    const int64_t m = RoundDiv(mem * g, gpu);
    cpu_left -= c;
    mem_left -= m;
    bundles.push_back({c, g, m});
  }
  return bundles;
}

}  // namespace berth
