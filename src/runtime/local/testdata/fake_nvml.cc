// A stand-in for libnvidia-ml.so.1 in tests of NvmlGpuCount: the three NVML
// calls berth makes, with the count from BERTH_FAKE_NVML_COUNT (default 3)
// and nvmlInit failing when BERTH_FAKE_NVML_FAIL is set.

#include <cstdlib>

namespace {
int g_inits = 0;
}

extern "C" {

int nvmlInit_v2() {
  if (std::getenv("BERTH_FAKE_NVML_FAIL") != nullptr) return 9;  // NVML_ERROR_DRIVER_NOT_LOADED
  ++g_inits;
  return 0;
}

int nvmlDeviceGetCount_v2(unsigned int* count) {
  if (g_inits == 0) return 1;  // NVML_ERROR_UNINITIALIZED
  const char* n = std::getenv("BERTH_FAKE_NVML_COUNT");
  *count = n != nullptr ? static_cast<unsigned int>(std::atoi(n)) : 3;
  return 0;
}

int nvmlShutdown() {
  if (g_inits == 0) return 1;
  --g_inits;
  return 0;
}

}  // extern "C"
