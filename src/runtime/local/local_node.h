#pragma once
// This machine as one node of the placement engine: its CPUs, memory and
// GPUs, detected, each of which an experiment may declare instead (8 GPUs on
// a laptop for the demo, say).
//
// GPUs: NVIDIA's NVML, loaded at run time (dlopen libnvidia-ml.so.1,
// nvmlInit_v2, nvmlDeviceGetCount_v2), so berth has no link-time dependency
// on the driver; without it, the count of /dev/nvidia<N> device files. Device
// ids are NVML's (PCI bus order), which is why workers get
// CUDA_DEVICE_ORDER=PCI_BUS_ID. berth's own CUDA_VISIBLE_DEVICES is not
// consulted: ids are physical.
// CPUs: the CPUs this process may run on (sched_getaffinity), lowered by a
// cgroup v2 cpu.max quota. Memory: physical memory, lowered by a cgroup v2
// memory.max limit.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "berth/placement.h"
#include "berth/resources.h"
#include "berth/status.h"

namespace berth::runtime::local {

// The local node's name and address (what workers use to reach each other).
inline constexpr std::string_view kLocalNodeName = "local";
inline constexpr std::string_view kLocalAddress = "127.0.0.1";

struct MachineInfo {
  int cpus = 1;
  int64_t mem_bytes = 0;
  int gpus = 0;
  std::string gpu_source;  // "nvml", "/dev/nvidia*" or "none"
};

// Reads the machine. Never fails: what cannot be read is counted low (1 CPU,
// 0 GPUs) rather than made up.
MachineInfo DetectMachine();

// What an experiment declares for this machine (ExperimentSpec's gpus, cpu,
// mem_gib); unset fields are detected.
struct LocalOverrides {
  std::optional<int> gpus;
  std::optional<Quantity> cpu;
  std::optional<Quantity> mem_gib;
};

// The node "local" with address label 127.0.0.1. Errors when a declared
// value is out of the engine's range.
Result<NodeSpec> LocalNode(const MachineInfo& machine, const LocalOverrides& overrides);

// A one-line description for people: "local: 16 CPUs, 62.8 GiB, 8 GPUs
// (declared)".
std::string Describe(const NodeSpec& node, const MachineInfo& machine,
                     const LocalOverrides& overrides);

// The pieces, for tests.
// GPUs from NVML, or nullopt when the library or a driver is missing.
std::optional<int> NvmlGpuCount(const char* library = "libnvidia-ml.so.1");
// The number of entries named nvidia<digits> in `dev_dir`.
int CountNvidiaDevices(const std::string& dev_dir = "/dev");
// cgroup v2 cpu.max ("max 100000" or "200000 100000"): the CPUs it allows,
// rounded up, or nullopt for no limit or unreadable text.
std::optional<int> CpuMaxLimit(std::string_view text);
// cgroup v2 memory.max ("max" or bytes), or nullopt.
std::optional<int64_t> MemoryMaxLimit(std::string_view text);

}  // namespace berth::runtime::local
