#pragma once
// Whether the GPU memory of a stopped unit has been released, before a unit
// is restarted on the same GPUs: a process's memory outlives its exit until
// the driver has torn its context down, and a restart that comes sooner runs
// out of memory on the GPUs it was given.
//
// Read through NVIDIA's NVML, loaded at run time like local_node.h's GPU
// count (dlopen, so no link-time dependency on the driver): the compute
// processes NVML lists on each GPU, matched to the stopped unit through
// /proc. NVML names processes by their pids in the host's PID namespace, so
// the match holds only where berth runs in that namespace; elsewhere (a
// container with a PID namespace of its own) Open says so, and the caller
// goes without the wait, as it does without NVML.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "berth/status.h"

namespace berth::runtime::local {

inline constexpr char kNvmlLibrary[] = "libnvidia-ml.so.1";
// How often WaitReleased asks NVML again.
inline constexpr std::chrono::milliseconds kGpuReleasePoll{100};
// The most processes one GPU may list; more is an error, not a bigger buffer.
inline constexpr unsigned kMaxGpuProcesses = 4096;

// One compute process on a GPU, as NVML lists it.
struct GpuProcess {
  int device = 0;           // NVML's index (PCI bus order), as workers' GPU ids
  int pid = 0;              // in the host's PID namespace
  int64_t used_bytes = -1;  // -1: NVML does not know (no permission, MIG)
};

class GpuMemoryWatch {
 public:
  // Loads `library`, checks that its pids can be matched through
  // `proc_root` (the host's PID namespace), and starts NVML. kUnavailable,
  // saying why, when the library is missing or lacks a function berth calls,
  // when nvmlInit fails (no driver), or when berth runs in another PID
  // namespace: the caller then goes without the wait.
  static Result<std::unique_ptr<GpuMemoryWatch>> Open(const std::string& library = kNvmlLibrary,
                                                      const std::string& proc_root = "/proc");
  ~GpuMemoryWatch();  // nvmlShutdown, dlclose
  GpuMemoryWatch(const GpuMemoryWatch&) = delete;
  GpuMemoryWatch& operator=(const GpuMemoryWatch&) = delete;

  // The compute processes NVML lists on GPU `device` (the newest of
  // nvmlDeviceGetComputeRunningProcesses_v3, _v2 and the unversioned one that
  // the library has). kBackend when NVML fails (an index it does not know,
  // a lost GPU) or lists more than kMaxGpuProcesses.
  Result<std::vector<GpuProcess>> Processes(int device) const;

  // Returns once no process of the stopped unit is listed on any of
  // `devices`, asking every kGpuReleasePoll on `clock` until `deadline`. A
  // listed process is the stopped unit's when it has ended (no
  // <proc_root>/<pid>, or a zombie: the driver still holds its memory) or
  // when it lives in one of `old_groups` (process groups: the stopped
  // workers' pids, each its group's leader). Others' processes are not
  // waited for, nor pid 0 (NVML without the right to see the pid).
  // Errors: kUnavailable at the deadline, naming each GPU, pid and MiB still
  // held and how long it waited; kBackend when NVML fails; kInvalidSpec for
  // a negative device.
  Status WaitReleased(const std::vector<int>& devices, const std::vector<int>& old_groups,
                      Clock& clock, Clock::TimePoint deadline) const;

 private:
  struct Nvml;  // the library's handle and the functions berth calls
  GpuMemoryWatch(std::unique_ptr<Nvml> nvml, std::string proc_root);

  std::unique_ptr<Nvml> nvml_;
  std::string proc_root_;
};

}  // namespace berth::runtime::local
