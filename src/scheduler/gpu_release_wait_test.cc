// A unit restarted on its own GPUs waits until NVML lists none of its old
// processes there (the fake NVML library and a fake /proc), bounded; on
// other GPUs it does not wait.

#include "scheduler/gpu_release_wait.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture
namespace fs = std::filesystem;

#ifdef BERTH_FAKE_NVML

class GpuReleaseWaitTest : public SchedulerFakeTest {
 protected:
  void SetUp() override {
    SchedulerFakeTest::SetUp();
    proc_ = log_dir_ / "proc";
    fs::create_directories(proc_ / "self" / "ns");
    fs::create_symlink("pid:[4026531836]", proc_ / "self" / "ns" / "pid");  // the host's
    procs_file_ = log_dir_ / "nvml-procs";
    setenv("BERTH_FAKE_NVML_PROCS", procs_file_.c_str(), 1);
    SetNvmlProcesses({});
    Result<std::unique_ptr<runtime::local::GpuMemoryWatch>> watch =
        runtime::local::GpuMemoryWatch::Open(BERTH_FAKE_NVML, proc_.string());
    ASSERT_TRUE(watch) << watch.error().ToString();
    watch_ = std::move(*watch);
  }
  void TearDown() override {
    unsetenv("BERTH_FAKE_NVML_PROCS");
    SchedulerFakeTest::TearDown();
  }
  // Lines "device pid used_bytes", as NVML would list them now.
  void SetNvmlProcesses(const std::vector<std::string>& lines) {
    const fs::path tmp = procs_file_.string() + ".new";
    {
      std::ofstream out(tmp);
      for (const std::string& line : lines) out << line << "\n";
    }
    fs::rename(tmp, procs_file_);
  }
  Scheduler& StartWithWait() {
    return Start([this](SchedulerOptions& o) {
      o.before_restart = GpuReleaseWait(watch_, clock_, std::chrono::seconds(30));
    });
  }

  fs::path proc_;
  fs::path procs_file_;
  std::shared_ptr<const runtime::local::GpuMemoryWatch> watch_;
};

RoleSpec Instances(int replicas) {
  RoleSpec r = Role("rollout", replicas, 1);
  r.placement = PlacementMode::kSeparate;
  return r;
}

TEST_F(GpuReleaseWaitTest, ARestartWaitsUntilTheOldProcessesMemoryIsReleased) {
  Scheduler& s = StartWithWait();
  ASSERT_TRUE(s.CreateWorkers(Instances(2)));
  const Worker old = *s.FindWorker("rollout/1");
  const int device = old.plan.gpus.at(0).device;
  // The old process has ended (not in /proc) but the driver still lists it;
  // another process on the other GPU is not the unit's.
  SetNvmlProcesses({std::to_string(device) + " " + std::to_string(old.pid) + " 1073741824",
                    std::to_string(device == 0 ? 1 : 0) + " 4242 1048576"});
  const Clock::TimePoint t0 = clock_.Now();
  Result<std::vector<std::string>> ids = s.RestartUnit("rollout/1");
  ASSERT_FALSE(ids);
  EXPECT_GE(clock_.Now() - t0, std::chrono::seconds(30));
  const std::string& m = ids.error().message();
  EXPECT_NE(m.find("its GPUs are not free for it"), std::string::npos) << m;
  EXPECT_NE(m.find("GPU " + std::to_string(device) + " still holds 1024 MiB of pid " +
                   std::to_string(old.pid)),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("4242"), std::string::npos) << m;

  // Released: the next attempt goes through at once, on the same GPU.
  SetNvmlProcesses({std::to_string(device == 0 ? 1 : 0) + " 4242 1048576"});
  const Clock::TimePoint t1 = clock_.Now();
  ids = s.RestartUnit("rollout/1");
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_LT(clock_.Now() - t1, std::chrono::seconds(1));
  EXPECT_EQ(s.FindWorker("rollout/1")->plan.gpus.at(0).device, device);
}

TEST_F(GpuReleaseWaitTest, OtherGpusAreNotWaitedFor) {
  std::vector<Worker> stopped(1);
  stopped[0].pid = 77;
  stopped[0].plan.node = "local";
  stopped[0].plan.gpus = {{0, Quantity::Whole(1)}};
  std::vector<WorkerPlan> next(1);
  next[0].node = "local";
  next[0].gpus = {{1, Quantity::Whole(1)}};
  SetNvmlProcesses({"0 77 1048576"});
  BeforeRestart wait = GpuReleaseWait(watch_, clock_, std::chrono::seconds(30));
  const Clock::TimePoint t0 = clock_.Now();
  EXPECT_TRUE(wait(stopped, next).ok());
  EXPECT_EQ(clock_.Now(), t0);
  // The same device on another node is another GPU.
  next[0].gpus = {{0, Quantity::Whole(1)}};
  next[0].node = "node2";
  EXPECT_TRUE(wait(stopped, next).ok());
  next[0].node = "local";
  EXPECT_FALSE(wait(stopped, next).ok());
}

#endif  // BERTH_FAKE_NVML

TEST(GpuReleaseWaitIfNvmlTest, WithoutNvmlThereIsNoWaitAndItSaysWhy) {
  // This machine has no NVML (CI has none); where it has, a function.
  std::string why;
  BeforeRestart wait = GpuReleaseWaitIfNvml(Clock::System(), kGpuReleaseLimit, &why);
  EXPECT_EQ(static_cast<bool>(wait), why.empty()) << why;
}

}  // namespace
}  // namespace berth
