#include "scheduler/gpu_release_wait.h"

#include <set>
#include <string>
#include <utility>

namespace berth::scheduler {

BeforeRestart GpuReleaseWait(std::shared_ptr<const runtime::local::GpuMemoryWatch> watch,
                             Clock& clock, std::chrono::milliseconds limit) {
  return [watch = std::move(watch), &clock, limit](const std::vector<Worker>& stopped,
                                                   const std::vector<WorkerPlan>& next) {
    // Per node: the devices both held before and given now.
    std::set<std::pair<std::string, int>> held;
    std::vector<int> groups;
    for (const Worker& w : stopped) {
      for (const GpuShare& g : w.plan.gpus) held.insert({w.plan.node, g.device});
      if (w.pid > 0) groups.push_back(w.pid);
    }
    std::set<int> devices;
    for (const WorkerPlan& w : next) {
      for (const GpuShare& g : w.gpus) {
        if (held.contains({w.node, g.device})) devices.insert(g.device);
      }
    }
    if (devices.empty()) return Status::Ok();
    return watch->WaitReleased({devices.begin(), devices.end()}, groups, clock, clock.Now() + limit)
        .WithPrefix("its GPUs are not free for it: ");
  };
}

BeforeRestart GpuReleaseWaitIfNvml(Clock& clock, std::chrono::milliseconds limit,
                                   std::string* why) {
  Result<std::unique_ptr<runtime::local::GpuMemoryWatch>> watch =
      runtime::local::GpuMemoryWatch::Open();
  if (!watch) {
    if (why != nullptr) *why = watch.error().message();
    return {};
  }
  return GpuReleaseWait(std::shared_ptr<const runtime::local::GpuMemoryWatch>(std::move(*watch)),
                        clock, limit);
}

}  // namespace berth::scheduler
