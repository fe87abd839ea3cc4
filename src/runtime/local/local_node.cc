#include "runtime/local/local_node.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/local/cgroup.h"

namespace berth::runtime::local {
namespace {

constexpr int64_t kGib = int64_t{1} << 30;

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<int64_t> ParsePositive(std::string_view text) {
  std::string s(text);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  errno = 0;
  const int64_t v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE || v <= 0) return std::nullopt;
  return v;
}

// This process's cgroup v2 folder and the cgroup2 root, wherever cgroup2 is
// mounted (beside the v1 controllers on a hybrid system); "" for none.
std::string CgroupDir() {
  Result<std::string> dir = OwnCgroupDir();
  return dir ? *dir : std::string();
}
std::string CgroupRoot() {
  Result<std::string> root = Cgroup2Mount();
  return root ? *root : std::string();
}

int DetectCpus(const std::string& cgroup) {
  int cpus = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  for (const std::string& dir : {cgroup, CgroupRoot()}) {
    if (dir.empty()) continue;
    if (std::optional<std::string> t = ReadSmallFile(dir + "/cpu.max")) {
      if (std::optional<int> limit = CpuMaxLimit(*t)) cpus = std::min(cpus, *limit);
      break;
    }
  }
  return std::max(cpus, 1);
}

int64_t DetectMemory(const std::string& cgroup) {
  const int64_t pages = sysconf(_SC_PHYS_PAGES);
  const int64_t page = sysconf(_SC_PAGE_SIZE);
  int64_t mem = pages > 0 && page > 0 ? int64_t{pages} * page : 0;
  for (const std::string& dir : {cgroup, CgroupRoot()}) {
    if (dir.empty()) continue;
    if (std::optional<std::string> t = ReadSmallFile(dir + "/memory.max")) {
      if (std::optional<int64_t> limit = MemoryMaxLimit(*t)) {
        mem = mem > 0 ? std::min(mem, *limit) : *limit;
      }
      break;
    }
  }
  return mem;
}

std::string Gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / kGib);
  return buf;
}

}  // namespace

std::optional<int> NvmlGpuCount(const char* library) {
  // NVML's C API: int-returning functions, 0 (NVML_SUCCESS) on success.
  using InitFn = int (*)();
  using CountFn = int (*)(unsigned int*);
  void* lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return std::nullopt;
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "nvmlInit_v2"));
  if (init == nullptr) init = reinterpret_cast<InitFn>(dlsym(lib, "nvmlInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "nvmlDeviceGetCount_v2"));
  if (count == nullptr) count = reinterpret_cast<CountFn>(dlsym(lib, "nvmlDeviceGetCount"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(lib, "nvmlShutdown"));
  std::optional<int> out;
  if (init != nullptr && count != nullptr && init() == 0) {
    unsigned int n = 0;
    if (count(&n) == 0) out = static_cast<int>(n);
    if (shutdown != nullptr) shutdown();
  }
  dlclose(lib);
  return out;
}

int CountNvidiaDevices(const std::string& dev_dir) {
  DIR* dir = opendir(dev_dir.c_str());
  if (dir == nullptr) return 0;
  int n = 0;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name.size() > 6 && name.substr(0, 6) == "nvidia" &&
        name.find_first_not_of("0123456789", 6) == std::string_view::npos) {
      ++n;
    }
  }
  closedir(dir);
  return n;
}

std::optional<int> CpuMaxLimit(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> quota = ParsePositive(text.substr(0, space));
  std::optional<int64_t> period = ParsePositive(text.substr(space + 1));
  if (!quota || !period) return std::nullopt;  // "max": no limit
  return static_cast<int>(std::max<int64_t>(1, (*quota + *period - 1) / *period));
}

std::optional<int64_t> MemoryMaxLimit(std::string_view text) { return ParsePositive(text); }

MachineInfo DetectMachine() {
  MachineInfo m;
  const std::string cgroup = CgroupDir();
  m.cpus = DetectCpus(cgroup);
  m.mem_bytes = DetectMemory(cgroup);
  if (std::optional<int> n = NvmlGpuCount()) {
    m.gpus = *n;
    m.gpu_source = "nvml";
  } else {
    m.gpus = CountNvidiaDevices();
    m.gpu_source = m.gpus > 0 ? "/dev/nvidia*" : "none";
  }
  return m;
}

Result<NodeSpec> LocalNode(const MachineInfo& machine, const LocalOverrides& o) {
  NodeSpec node;
  node.name = std::string(kLocalNodeName);
  node.labels["address"] = std::string(kLocalAddress);
  BERTH_ASSIGN_OR_RETURN(Quantity detected_cpu, Quantity::FromInteger(machine.cpus, "cpus"));
  node.resources.Set(kCpu, o.cpu.value_or(detected_cpu));
  // The engine holds at most 1e14 bytes; a bigger machine is clamped.
  const int64_t max_bytes = Quantity::kMaxUnits / Quantity::kScale;
  Quantity mem = Quantity::Whole(std::clamp<int64_t>(machine.mem_bytes, 0, max_bytes));
  if (o.mem_gib) {
    if (o.mem_gib->units() > Quantity::kMaxUnits / kGib) {
      return InvalidSpec("cluster.mem: " + o.mem_gib->ToString() + " GiB is above 1e14 bytes");
    }
    mem = Quantity::Units(o.mem_gib->units() * kGib);
  }
  node.resources.Set(kMemory, mem);
  const int gpus = o.gpus.value_or(machine.gpus);
  if (gpus > 0) node.resources.Set(kGpu, Quantity::Whole(gpus));
  return node;
}

std::string Describe(const NodeSpec& node, const MachineInfo& machine, const LocalOverrides& o) {
  const Quantity cpu = node.resources.Get(kCpu);
  const Quantity mem = node.resources.Get(kMemory);
  const int64_t gpus = node.resources.Get(kGpu).WholePart();
  std::string s = node.name + " (" + std::string(kLocalAddress) + "): " + cpu.ToString() + " CPUs" +
                  (o.cpu ? " (declared)" : "") + ", " + Gib(mem.WholePart()) +
                  (o.mem_gib ? " (declared)" : "") + ", " + std::to_string(gpus) + " GPUs";
  if (o.gpus) {
    s += " (declared; " + std::to_string(machine.gpus) + " detected)";
  } else {
    s += " (" + machine.gpu_source + ")";
  }
  return s;
}

}  // namespace berth::runtime::local
