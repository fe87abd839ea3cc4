#pragma once
// This machine as one node of the placement engine, for a program that runs
// workers here (ProcessSupervisor, Scheduler). Implemented in runtime/local.
// Nothing here throws.
//
// What is detected: GPUs through NVIDIA's NVML, loaded at run time (no
// link-time dependency on the driver), else the count of /dev/nvidia<N>;
// device ids are NVML's (PCI bus order). CPUs this process may run on,
// lowered by a cgroup v2 cpu.max quota; physical memory, lowered by a cgroup
// v2 memory.max limit. What cannot be read is counted low, never made up.

#include <optional>

#include "berth/placement.h"
#include "berth/resources.h"
#include "berth/status.h"

namespace berth {

// What a caller declares instead of detecting (8 GPUs on a laptop for a
// demo, say; none are needed). Unset fields are detected.
struct LocalResources {
  std::optional<int> gpus;
  std::optional<Quantity> cpu;
  std::optional<Quantity> mem_gib;  // GiB; memory = mem_gib * 2^30 bytes
};

// The node "local" with label address=127.0.0.1 and resources CPU, memory
// (bytes) and, when there are any, GPU (whole devices 0..n-1). Errors
// (kInvalidSpec) when a declared value is out of the engine's range (memory
// above 1e14 bytes).
Result<NodeSpec> LocalMachineNode(const LocalResources& declared = {});

}  // namespace berth
