#pragma once
// SchedulerOptions::before_restart for a unit that starts again on this
// machine's GPUs: the memory of a stopped process outlives it until the
// driver has torn its context down, and a unit started on the same GPUs
// sooner runs out of memory there. So the restart first waits, bounded,
// until NVML lists no process of the stopped unit on the GPUs the new one
// gets (runtime/local/gpu_release.h).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "berth/scheduler.h"
#include "runtime/local/gpu_release.h"

namespace berth::scheduler {

// How long a restart waits for the GPUs' memory; then it fails (counted
// against the role's restart budget, and tried again after its backoff).
inline constexpr std::chrono::seconds kGpuReleaseLimit{30};

using BeforeRestart =
    std::function<Status(const std::vector<Worker>& stopped, const std::vector<WorkerPlan>& next)>;

// Waits on `watch` for the devices that the stopped workers held and the
// new ones get, on the same node; nothing to wait for when they share none.
// An error names each GPU, pid and MiB still held (WaitReleased's).
BeforeRestart GpuReleaseWait(std::shared_ptr<const runtime::local::GpuMemoryWatch> watch,
                             Clock& clock, std::chrono::milliseconds limit = kGpuReleaseLimit);

// GpuReleaseWait on NVML when it can be used here; else none (an empty
// function), and `why` says what is missing.
BeforeRestart GpuReleaseWaitIfNvml(Clock& clock, std::chrono::milliseconds limit, std::string* why);

}  // namespace berth::scheduler
