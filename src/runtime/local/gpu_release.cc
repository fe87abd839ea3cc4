#include "runtime/local/gpu_release.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace berth::runtime::local {
namespace {

// NVML's C API, declared here rather than taken from nvml.h (which Debian
// does not package): int-returning functions, 0 on success.
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlErrorInsufficientSize = 7;
constexpr uint64_t kNvmlValueNotAvailable = ~uint64_t{0};
using NvmlDevice = void*;  // nvmlDevice_t: an opaque pointer
using InitFn = int (*)();
using HandleFn = int (*)(unsigned int, NvmlDevice*);
using ProcessesFn = int (*)(NvmlDevice, unsigned int*, void*);
using ErrorStringFn = const char* (*)(int);

// nvmlProcessInfo_v1_t, what the unversioned function fills, and
// nvmlProcessInfo_v2_t (= nvmlProcessInfo_t), what _v2 and _v3 fill.
struct ProcessInfoV1 {
  unsigned int pid;
  unsigned long long used_gpu_memory;  // NOLINT(google-runtime-int): NVML's type
};
struct ProcessInfoV2 {
  unsigned int pid;
  unsigned long long used_gpu_memory;  // NOLINT(google-runtime-int): NVML's type
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};
static_assert(sizeof(ProcessInfoV1) == 16 && sizeof(ProcessInfoV2) == 24);

// The first buffer: room for the processes of a busy GPU in one call.
constexpr unsigned kFirstCapacity = 64;
// Calls per Processes: NVML answers INSUFFICIENT_SIZE with the count it
// holds, so one more call normally suffices; processes that start between
// the two calls may need another.
constexpr int kMaxCalls = 4;
// The inode of the kernel's initial PID namespace (PROC_PID_INIT_INO),
// which /proc/<pid>/ns/pid names in its link text.
constexpr char kHostPidNamespace[] = "pid:[4026531836]";
// Processes a deadline message names; the rest are counted.
constexpr size_t kMaxNamed = 8;
constexpr int64_t kMib = int64_t{1} << 20;

template <typename Fn>
Fn Symbol(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

// "<name> or <name>_v2": the first of `names` that `lib` has, or nullptr.
template <typename Fn>
Fn FirstSymbol(void* lib, std::initializer_list<const char*> names, const char** found) {
  for (const char* name : names) {
    if (Fn fn = Symbol<Fn>(lib, name)) {
      if (found != nullptr) *found = name;
      return fn;
    }
  }
  return nullptr;
}

// A process as /proc shows it: its state and process group.
struct ProcState {
  char state = '?';
  int pgid = 0;
};

std::optional<ProcState> ReadProcState(const std::string& proc_root, int pid) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
  const size_t close = text.rfind(')');
  ProcState s;
  if (close == std::string::npos ||
      std::sscanf(text.c_str() + close + 1, " %c %*d %d", &s.state, &s.pgid) != 2) {
    return std::nullopt;
  }
  return s;
}

// Why a listed process counts as the stopped unit's; nullopt for others'.
std::optional<std::string> OldUnitReason(const std::string& proc_root, int pid,
                                         const std::unordered_set<int>& old_groups) {
  if (pid <= 0) return std::nullopt;  // no pid to match
  const std::optional<ProcState> s = ReadProcState(proc_root, pid);
  if (!s || s->state == 'Z' || s->state == 'X') return "ended";
  if (old_groups.contains(s->pgid)) {
    return "alive, in process group " + std::to_string(s->pgid) + " of the stopped unit";
  }
  return std::nullopt;
}

std::string Memory(int64_t bytes) {
  if (bytes < 0) return "memory (NVML does not say how much)";
  return std::to_string((bytes + kMib - 1) / kMib) + " MiB";  // rounded up: 1 byte is held
}

std::string Seconds(Clock::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

struct GpuMemoryWatch::Nvml {
  void* lib = nullptr;
  InitFn shutdown = nullptr;
  HandleFn handle = nullptr;
  const char* handle_name = "";
  ProcessesFn processes = nullptr;
  const char* processes_name = "";
  bool v1_layout = false;  // the unversioned function: nvmlProcessInfo_v1_t
  ErrorStringFn error_string = nullptr;

  // "NVML error 2 (Invalid Argument)".
  std::string ErrorText(int rc) const {
    std::string out = "NVML error " + std::to_string(rc);
    if (error_string != nullptr) {
      if (const char* s = error_string(rc)) out += std::string(" (") + s + ")";
    }
    return out;
  }
};

GpuMemoryWatch::GpuMemoryWatch(std::unique_ptr<Nvml> nvml, std::string proc_root)
    : nvml_(std::move(nvml)), proc_root_(std::move(proc_root)) {}

GpuMemoryWatch::~GpuMemoryWatch() {
  if (nvml_->shutdown != nullptr) nvml_->shutdown();
  dlclose(nvml_->lib);
}

Result<std::unique_ptr<GpuMemoryWatch>> GpuMemoryWatch::Open(const std::string& library,
                                                             const std::string& proc_root) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return Unavailable("NVML: cannot load " + library + ": " + (why ? why : "dlopen failed"));
  }
  auto nvml = std::make_unique<Nvml>();
  nvml->lib = lib;
  const auto init = FirstSymbol<InitFn>(lib, {"nvmlInit_v2", "nvmlInit"}, nullptr);
  nvml->handle = FirstSymbol<HandleFn>(
      lib, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}, &nvml->handle_name);
  nvml->processes = FirstSymbol<ProcessesFn>(
      lib,
      {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
       "nvmlDeviceGetComputeRunningProcesses"},
      &nvml->processes_name);
  nvml->v1_layout = std::strcmp(nvml->processes_name, "nvmlDeviceGetComputeRunningProcesses") == 0;
  nvml->error_string = Symbol<ErrorStringFn>(lib, "nvmlErrorString");
  const auto shutdown = Symbol<InitFn>(lib, "nvmlShutdown");
  const char* missing = init == nullptr              ? "nvmlInit_v2"
                        : nvml->handle == nullptr    ? "nvmlDeviceGetHandleByIndex_v2"
                        : nvml->processes == nullptr ? "nvmlDeviceGetComputeRunningProcesses_v3"
                        : shutdown == nullptr        ? "nvmlShutdown"
                                                     : nullptr;
  if (missing != nullptr) {
    dlclose(lib);
    return Unavailable("NVML: " + library + " has no " + missing +
                       " (nor an older version of it): a driver too old for berth's GPU "
                       "memory check");
  }
  const std::string ns_link = proc_root + "/self/ns/pid";
  char ns[64] = {};
  const ssize_t n = readlink(ns_link.c_str(), ns, sizeof ns - 1);
  if (n <= 0 || std::string_view(ns, n) != kHostPidNamespace) {
    dlclose(lib);
    return Unavailable(
        "NVML lists a GPU's processes by their pids in the host's PID namespace, and berth "
        "runs in " +
        (n > 0 ? "another one (" + ns_link + " is " + std::string(ns, n) + ", not " +
                     kHostPidNamespace + ": a container)"
               : "one it cannot tell (" + ns_link + " cannot be read)") +
        ", so it cannot tell the stopped unit's GPU memory from others'; run berth in the "
        "host's PID namespace (docker run --pid=host) for the wait");
  }
  if (const int rc = init(); rc != kNvmlSuccess) {
    const std::string why = nvml->ErrorText(rc);
    dlclose(lib);
    return Unavailable("NVML: nvmlInit of " + library + " failed: " + why);
  }
  nvml->shutdown = shutdown;  // only once started: the destructor shuts it down
  return std::unique_ptr<GpuMemoryWatch>(new GpuMemoryWatch(std::move(nvml), proc_root));
}

Result<std::vector<GpuProcess>> GpuMemoryWatch::Processes(int device) const {
  const std::string gpu = "NVML: GPU " + std::to_string(device) + ": ";
  if (device < 0) return InvalidSpec(gpu + "a GPU index is 0 or more");
  NvmlDevice handle = nullptr;
  if (const int rc = nvml_->handle(static_cast<unsigned>(device), &handle); rc != kNvmlSuccess) {
    return BackendError(gpu + nvml_->handle_name + " failed: " + nvml_->ErrorText(rc));
  }
  const size_t stride = nvml_->v1_layout ? sizeof(ProcessInfoV1) : sizeof(ProcessInfoV2);
  unsigned capacity = kFirstCapacity;
  for (int call = 1;; ++call) {
    std::vector<unsigned char> buf(size_t{capacity} * stride);
    unsigned count = capacity;
    const int rc = nvml_->processes(handle, &count, buf.data());
    if (rc == kNvmlSuccess) {
      std::vector<GpuProcess> out;
      out.reserve(std::min(count, capacity));
      for (unsigned i = 0; i < std::min(count, capacity); ++i) {
        ProcessInfoV2 info{};  // v1 is v2's first two fields, at the same offsets
        std::memcpy(&info, buf.data() + i * stride, stride);
        out.push_back({.device = device,
                       .pid = static_cast<int>(info.pid),
                       .used_bytes = info.used_gpu_memory == kNvmlValueNotAvailable
                                         ? -1
                                         : static_cast<int64_t>(info.used_gpu_memory)});
      }
      return out;
    }
    if (rc != kNvmlErrorInsufficientSize) {
      return BackendError(gpu + nvml_->processes_name + " failed: " + nvml_->ErrorText(rc));
    }
    // `count` is now the number NVML holds; a little more room for those
    // that start before the next call.
    if (count > kMaxGpuProcesses || capacity >= kMaxGpuProcesses || call >= kMaxCalls) {
      return BackendError(gpu + nvml_->processes_name + " lists " + std::to_string(count) +
                          " processes after " + std::to_string(call) +
                          " calls; berth reads at most " + std::to_string(kMaxGpuProcesses));
    }
    capacity = std::min(kMaxGpuProcesses, std::max(capacity * 2, count + count / 4 + 8));
  }
}

Status GpuMemoryWatch::WaitReleased(const std::vector<int>& devices,
                                    const std::vector<int>& old_groups, Clock& clock,
                                    Clock::TimePoint deadline) const {
  const std::unordered_set<int> groups(old_groups.begin(), old_groups.end());
  const Clock::TimePoint start = clock.Now();
  std::vector<std::string> held;  // "GPU 3 still holds 2048 MiB of pid 1234 (ended)"
  Status error;
  const bool released = clock.WaitUntil(deadline, kGpuReleasePoll, [&] {
    held.clear();
    for (const int device : devices) {
      Result<std::vector<GpuProcess>> listed = Processes(device);
      if (!listed) {
        error = listed.error();
        return true;
      }
      for (const GpuProcess& p : *listed) {
        if (std::optional<std::string> why = OldUnitReason(proc_root_, p.pid, groups)) {
          held.push_back("GPU " + std::to_string(device) + " still holds " + Memory(p.used_bytes) +
                         " of pid " + std::to_string(p.pid) + " (" + *why + ")");
        }
      }
    }
    return held.empty();
  });
  if (!error.ok()) return error;
  if (released) return Status::Ok();
  std::string msg =
      "the stopped unit's GPU memory is not released after " + Seconds(clock.Now() - start) + ": ";
  for (size_t i = 0; i < held.size() && i < kMaxNamed; ++i) {
    msg += (i > 0 ? "; " : "") + held[i];
  }
  if (held.size() > kMaxNamed) msg += "; and " + std::to_string(held.size() - kMaxNamed) + " more";
  return Unavailable(msg + " (nvidia-smi shows the GPUs' processes)");
}

}  // namespace berth::runtime::local
