#include "runtime/local/local_node.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace berth::runtime::local {
namespace {

TEST(LocalNodeTest, CpuMaxLimit) {
  EXPECT_EQ(CpuMaxLimit("max 100000\n"), std::nullopt);
  EXPECT_EQ(CpuMaxLimit("200000 100000\n"), 2);
  EXPECT_EQ(CpuMaxLimit("150000 100000"), 2);  // 1.5 CPUs: rounded up
  EXPECT_EQ(CpuMaxLimit("50000 100000"), 1);
  EXPECT_EQ(CpuMaxLimit("garbage"), std::nullopt);
}

TEST(LocalNodeTest, MemoryMaxLimit) {
  EXPECT_EQ(MemoryMaxLimit("max\n"), std::nullopt);
  EXPECT_EQ(MemoryMaxLimit("1073741824\n"), int64_t{1} << 30);
  EXPECT_EQ(MemoryMaxLimit(""), std::nullopt);
}

TEST(LocalNodeTest, CountsNvidiaDeviceFilesOnly) {
  char tmpl[] = "/tmp/berth-dev-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  for (const char* name : {"nvidia0", "nvidia1", "nvidia12", "nvidiactl", "nvidia-uvm",
                           "nvidia-caps", "nvidia", "null"}) {
    std::ofstream(dir + "/" + name) << "";
  }
  EXPECT_EQ(CountNvidiaDevices(dir), 3);
  EXPECT_EQ(CountNvidiaDevices(dir + "/missing"), 0);
  std::system(("rm -rf " + dir).c_str());
}

TEST(LocalNodeTest, NvmlMissingLibraryIsNoAnswer) {
  EXPECT_EQ(NvmlGpuCount("libberth-no-such-library.so.1"), std::nullopt);
}

#ifdef BERTH_FAKE_NVML
TEST(LocalNodeTest, NvmlThroughDlopen) {
  unsetenv("BERTH_FAKE_NVML_FAIL");
  EXPECT_EQ(NvmlGpuCount(BERTH_FAKE_NVML), 3);
  setenv("BERTH_FAKE_NVML_COUNT", "8", 1);
  EXPECT_EQ(NvmlGpuCount(BERTH_FAKE_NVML), 8);
  // A library without a driver behind it: no answer, so /dev is tried.
  setenv("BERTH_FAKE_NVML_FAIL", "1", 1);
  EXPECT_EQ(NvmlGpuCount(BERTH_FAKE_NVML), std::nullopt);
  unsetenv("BERTH_FAKE_NVML_FAIL");
  unsetenv("BERTH_FAKE_NVML_COUNT");
}
#endif

TEST(LocalNodeTest, DetectMachineIsSane) {
  MachineInfo m = DetectMachine();
  EXPECT_GE(m.cpus, 1);
  EXPECT_GT(m.mem_bytes, 0);
  EXPECT_GE(m.gpus, 0);
  EXPECT_FALSE(m.gpu_source.empty());
}

TEST(LocalNodeTest, DetectedValues) {
  MachineInfo m{.cpus = 4, .mem_bytes = int64_t{3} << 30, .gpus = 0, .gpu_source = "none"};
  auto node = LocalNode(m, {});
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->name, "local");
  EXPECT_EQ(node->labels.at("address"), "127.0.0.1");
  EXPECT_EQ(node->resources.Get(kCpu), Quantity::Whole(4));
  EXPECT_EQ(node->resources.Get(kMemory), Quantity::Whole(int64_t{3} << 30));
  EXPECT_FALSE(node->resources.Has(kGpu));
}

TEST(LocalNodeTest, DeclaredValuesWin) {
  MachineInfo m{.cpus = 2, .mem_bytes = int64_t{1} << 30, .gpus = 0, .gpu_source = "none"};
  LocalOverrides o{.gpus = 8, .cpu = Quantity::Whole(16), .mem_gib = Quantity::Whole(64)};
  auto node = LocalNode(m, o);
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->resources.Get(kGpu), Quantity::Whole(8));
  EXPECT_EQ(node->resources.Get(kCpu), Quantity::Whole(16));
  EXPECT_EQ(node->resources.Get(kMemory), Quantity::Whole(int64_t{64} << 30));
  const std::string d = Describe(*node, m, o);
  EXPECT_NE(d.find("8 GPUs (declared; 0 detected)"), std::string::npos) << d;
  EXPECT_NE(d.find("16 CPUs (declared)"), std::string::npos) << d;
}

TEST(LocalNodeTest, ZeroDeclaredGpusHidesRealOnes) {
  MachineInfo m{.cpus = 2, .mem_bytes = 1 << 30, .gpus = 4, .gpu_source = "nvml"};
  LocalOverrides o;
  o.gpus = 0;
  auto node = LocalNode(m, o);
  ASSERT_TRUE(node.has_value());
  EXPECT_FALSE(node->resources.Has(kGpu));
}

}  // namespace
}  // namespace berth::runtime::local
