// A stand-in for libnvidia-ml.so.1 in tests of NvmlGpuCount and
// GpuMemoryWatch: the NVML calls berth makes.
//   BERTH_FAKE_NVML_COUNT  the number of GPUs (default 3)
//   BERTH_FAKE_NVML_FAIL   set: nvmlInit fails (no driver)
//   BERTH_FAKE_NVML_PROCS  a file of compute processes, read at every call
//                          (a test replaces it, by rename, while a wait
//                          runs): lines "device pid used_bytes", used_bytes
//                          "na" for NVML_VALUE_NOT_AVAILABLE. Unset or
//                          missing: no processes.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int g_inits = 0;

constexpr int kSuccess = 0;
constexpr int kUninitialized = 1;
constexpr int kInvalidArgument = 2;
constexpr int kInsufficientSize = 7;
constexpr int kUnknown = 999;

// nvmlProcessInfo_t (= nvmlProcessInfo_v2_t), as nvml.h lays it out.
struct ProcessInfo {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

unsigned GpuCount() {
  const char* n = std::getenv("BERTH_FAKE_NVML_COUNT");
  return n != nullptr ? static_cast<unsigned>(std::atoi(n)) : 3;
}

// The processes of `device` from BERTH_FAKE_NVML_PROCS; false on a
// malformed line (the test's mistake, reported as NVML_ERROR_UNKNOWN).
bool ReadProcesses(unsigned device, std::vector<ProcessInfo>* out) {
  const char* path = std::getenv("BERTH_FAKE_NVML_PROCS");
  if (path == nullptr) return true;
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return true;
  char line[256];
  bool ok = true;
  while (ok && std::fgets(line, sizeof line, f) != nullptr) {
    unsigned d = 0;
    unsigned pid = 0;
    char used[64] = {};
    const int n = std::sscanf(line, "%u %u %63s", &d, &pid, used);
    if (n <= 0) continue;  // a blank line
    ok = n == 3;
    if (!ok || d != device) continue;
    ProcessInfo p{};
    p.pid = pid;
    p.usedGpuMemory = std::strcmp(used, "na") == 0 ? ~0ULL : std::strtoull(used, nullptr, 10);
    out->push_back(p);
  }
  std::fclose(f);
  return ok;
}

}  // namespace

extern "C" {

int nvmlInit_v2() {
  if (std::getenv("BERTH_FAKE_NVML_FAIL") != nullptr) return 9;  // NVML_ERROR_DRIVER_NOT_LOADED
  ++g_inits;
  return kSuccess;
}

int nvmlDeviceGetCount_v2(unsigned int* count) {
  if (g_inits == 0) return kUninitialized;
  *count = GpuCount();
  return kSuccess;
}

// A handle is the device's index plus one (never null).
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (g_inits == 0) return kUninitialized;
  if (device == nullptr || index >= GpuCount()) return kInvalidArgument;
  *device = reinterpret_cast<void*>(static_cast<uintptr_t>(index) + 1);
  return kSuccess;
}

// As NVML: too small a buffer gets NVML_ERROR_INSUFFICIENT_SIZE with the
// count it needs. The buffer is void* as berth's pointer to this function
// has it (UBSan checks that a call through a pointer matches the callee's
// type).
int nvmlDeviceGetComputeRunningProcesses_v3(void* device, unsigned int* count, void* buffer) {
  auto* infos = static_cast<ProcessInfo*>(buffer);
  if (g_inits == 0) return kUninitialized;
  const uintptr_t handle = reinterpret_cast<uintptr_t>(device);
  if (handle == 0 || handle > GpuCount() || count == nullptr) return kInvalidArgument;
  std::vector<ProcessInfo> procs;
  if (!ReadProcesses(static_cast<unsigned>(handle - 1), &procs)) return kUnknown;
  const unsigned have = static_cast<unsigned>(procs.size());
  if (have > *count || (have > 0 && infos == nullptr)) {
    *count = have;
    return kInsufficientSize;
  }
  for (unsigned i = 0; i < have; ++i) infos[i] = procs[i];
  *count = have;
  return kSuccess;
}

const char* nvmlErrorString(int result) {
  switch (result) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kInsufficientSize:
      return "Insufficient Size";
    case 9:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

int nvmlShutdown() {
  if (g_inits == 0) return kUninitialized;
  --g_inits;
  return kSuccess;
}

}  // extern "C"
