#include "runtime/local/gpu_release.h"

#include <gtest/gtest.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "testing/fake_clock.h"

namespace berth::runtime::local {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr int64_t kMib = int64_t{1} << 20;

#ifdef BERTH_FAKE_NVML

// The fake NVML (src/runtime/local/testdata/fake_nvml.cc) with its process
// list in a file, and a fake /proc: self/ns/pid says "the host's", and a
// process exists when AddProc wrote its stat file.
class GpuMemoryWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-gpu-release-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    proc_ = dir_ + "/proc";
    fs::create_directories(proc_ + "/self/ns");
    SetPidNamespace("pid:[4026531836]");
    procs_file_ = dir_ + "/procs";
    setenv("BERTH_FAKE_NVML_PROCS", procs_file_.c_str(), 1);
    unsetenv("BERTH_FAKE_NVML_FAIL");
    unsetenv("BERTH_FAKE_NVML_COUNT");  // 3 GPUs
  }
  void TearDown() override {
    unsetenv("BERTH_FAKE_NVML_PROCS");
    unsetenv("BERTH_FAKE_NVML_FAIL");
    fs::remove_all(dir_);
  }

  void SetPidNamespace(const std::string& text) {
    fs::remove(proc_ + "/self/ns/pid");
    fs::create_symlink(text, proc_ + "/self/ns/pid");  // as the kernel's: a link to nowhere
  }
  // Lines "device pid used_bytes", replaced at once (as NVML's answer changes).
  void SetNvmlProcesses(const std::vector<std::string>& lines) {
    const std::string tmp = procs_file_ + ".new";
    {
      std::ofstream out(tmp);
      for (const std::string& line : lines) out << line << "\n";
    }
    fs::rename(tmp, procs_file_);
  }
  void AddProc(int pid, int pgid, char state = 'S') {
    fs::create_directories(proc_ + "/" + std::to_string(pid));
    std::ofstream(proc_ + "/" + std::to_string(pid) + "/stat")
        << pid << " (py thon) " << state << " 1 " << pgid << " " << pgid << " 0 -1 0\n";
  }
  void RemoveProc(int pid) { fs::remove_all(proc_ + "/" + std::to_string(pid)); }

  std::unique_ptr<GpuMemoryWatch> Open() {
    Result<std::unique_ptr<GpuMemoryWatch>> watch = GpuMemoryWatch::Open(BERTH_FAKE_NVML, proc_);
    EXPECT_TRUE(watch.has_value()) << watch.error().ToString();
    return watch ? std::move(*watch) : nullptr;
  }

  std::string dir_, proc_, procs_file_;
  testing::FakeClock clock_;
};

TEST_F(GpuMemoryWatchTest, MissingLibraryIsUnavailable) {
  Result<std::unique_ptr<GpuMemoryWatch>> watch =
      GpuMemoryWatch::Open("libberth-no-such-library.so.1", proc_);
  ASSERT_FALSE(watch.has_value());
  EXPECT_EQ(watch.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(watch.error().message().find("libberth-no-such-library.so.1"), std::string::npos)
      << watch.error().message();
}

TEST_F(GpuMemoryWatchTest, NoDriverIsUnavailable) {
  setenv("BERTH_FAKE_NVML_FAIL", "1", 1);
  Result<std::unique_ptr<GpuMemoryWatch>> watch = GpuMemoryWatch::Open(BERTH_FAKE_NVML, proc_);
  ASSERT_FALSE(watch.has_value());
  EXPECT_EQ(watch.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(watch.error().message().find("nvmlInit"), std::string::npos);
  EXPECT_NE(watch.error().message().find("Driver Not Loaded"), std::string::npos)
      << watch.error().message();
}

TEST_F(GpuMemoryWatchTest, AnotherPidNamespaceIsUnavailable) {
  SetPidNamespace("pid:[4026532999]");
  Result<std::unique_ptr<GpuMemoryWatch>> watch = GpuMemoryWatch::Open(BERTH_FAKE_NVML, proc_);
  ASSERT_FALSE(watch.has_value());
  EXPECT_EQ(watch.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(watch.error().message().find("pid:[4026532999]"), std::string::npos)
      << watch.error().message();
  EXPECT_NE(watch.error().message().find("--pid=host"), std::string::npos);
}

TEST_F(GpuMemoryWatchTest, ListsTheProcessesOfOneGpu) {
  SetNvmlProcesses({"0 100 1048576", "1 200 2097152", "1 201 na", "2 300 5"});
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  Result<std::vector<GpuProcess>> procs = watch->Processes(1);
  ASSERT_TRUE(procs.has_value()) << procs.error().ToString();
  ASSERT_EQ(procs->size(), 2U);
  EXPECT_EQ((*procs)[0].device, 1);
  EXPECT_EQ((*procs)[0].pid, 200);
  EXPECT_EQ((*procs)[0].used_bytes, 2 * kMib);
  EXPECT_EQ((*procs)[1].pid, 201);
  EXPECT_EQ((*procs)[1].used_bytes, -1);  // NVML_VALUE_NOT_AVAILABLE
}

TEST_F(GpuMemoryWatchTest, AGpuNvmlDoesNotKnowIsAnError) {
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  Result<std::vector<GpuProcess>> procs = watch->Processes(7);
  ASSERT_FALSE(procs.has_value());
  EXPECT_EQ(procs.error().code(), ErrorCode::kBackend);
  EXPECT_NE(procs.error().message().find("GPU 7"), std::string::npos);
  EXPECT_NE(procs.error().message().find("Invalid Argument"), std::string::npos);
  EXPECT_EQ(watch->Processes(-1).error().code(), ErrorCode::kInvalidSpec);
  // And the wait says so at once rather than at its deadline.
  const Status s = watch->WaitReleased({0, 7}, {}, clock_, clock_.Now() + seconds(30));
  EXPECT_EQ(s.code(), ErrorCode::kBackend) << s.ToString();
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(GpuMemoryWatchTest, GrowsItsBufferWhenNvmlSaysItIsTooSmall) {
  std::vector<std::string> lines;
  for (int pid = 1000; pid < 1300; ++pid) lines.push_back("2 " + std::to_string(pid) + " 4096");
  SetNvmlProcesses(lines);
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  Result<std::vector<GpuProcess>> procs = watch->Processes(2);
  ASSERT_TRUE(procs.has_value()) << procs.error().ToString();
  ASSERT_EQ(procs->size(), 300U);
  EXPECT_EQ(procs->back().pid, 1299);
}

TEST_F(GpuMemoryWatchTest, MoreProcessesThanTheBoundIsAnError) {
  std::vector<std::string> lines;
  for (unsigned pid = 1; pid <= kMaxGpuProcesses + 1; ++pid) {
    lines.push_back("0 " + std::to_string(pid) + " 1");
  }
  SetNvmlProcesses(lines);
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  Result<std::vector<GpuProcess>> procs = watch->Processes(0);
  ASSERT_FALSE(procs.has_value());
  EXPECT_EQ(procs.error().code(), ErrorCode::kBackend);
  EXPECT_NE(procs.error().message().find(std::to_string(kMaxGpuProcesses + 1) + " processes"),
            std::string::npos)
      << procs.error().message();
}

TEST_F(GpuMemoryWatchTest, ReleasedAtOnce) {
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->WaitReleased({0, 1, 2}, {400}, clock_, clock_.Now() + seconds(30)).ok());
  SetNvmlProcesses({});  // a file, empty
  EXPECT_TRUE(watch->WaitReleased({0, 1, 2}, {400}, clock_, clock_.Now() + seconds(30)).ok());
  EXPECT_TRUE(watch->WaitReleased({}, {400}, clock_, clock_.Now()).ok());
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(GpuMemoryWatchTest, WaitsForAnEndedProcessUntilTheDriverLetsItGo) {
  // pid 4242 has exited (no /proc entry); NVML lists it for 1.5 s more.
  SetNvmlProcesses({"1 4242 1073741824"});
  clock_.At(milliseconds(1500), [&] { SetNvmlProcesses({}); });
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  const Status s = watch->WaitReleased({1}, {4200}, clock_, clock_.Now() + seconds(30));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(clock_.Elapsed(), milliseconds(1500));
  for (Clock::Duration d : clock_.sleeps()) EXPECT_EQ(d, kGpuReleasePoll);
}

TEST_F(GpuMemoryWatchTest, AZombieCountsAsEnded) {
  AddProc(4243, 9999, 'Z');
  SetNvmlProcesses({"0 4243 4096"});
  clock_.At(milliseconds(300), [&] { SetNvmlProcesses({}); });
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->WaitReleased({0}, {}, clock_, clock_.Now() + seconds(30)).ok());
  EXPECT_EQ(clock_.Elapsed(), milliseconds(300));
}

TEST_F(GpuMemoryWatchTest, WaitsForALiveProcessOfTheStoppedGroups) {
  // A worker's child (group 400, the stopped worker's) still runs at 2 s.
  AddProc(401, 400);
  SetNvmlProcesses({"2 401 8388608"});
  clock_.At(seconds(2), [&] {
    RemoveProc(401);
    SetNvmlProcesses({});
  });
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  const Status s = watch->WaitReleased({0, 2}, {300, 400}, clock_, clock_.Now() + seconds(30));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(clock_.Elapsed(), seconds(2));
}

TEST_F(GpuMemoryWatchTest, OthersProcessesAreNotWaitedFor) {
  AddProc(600, 600);  // another job's, alive, in its own group
  AddProc(601, 600);
  SetNvmlProcesses({"0 600 1073741824", "0 601 1048576", "1 0 1048576"});  // pid 0: not seen
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->WaitReleased({0, 1}, {400}, clock_, clock_.Now() + seconds(30)).ok());
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(GpuMemoryWatchTest, TheDeadlineNamesEachGpuPidAndMib) {
  AddProc(401, 400);
  SetNvmlProcesses({"2 1234 2147483648", "0 401 1", "0 555 na", "1 1234 5"});
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  const Status s = watch->WaitReleased({0, 2}, {400}, clock_, clock_.Now() + seconds(3));
  ASSERT_EQ(s.code(), ErrorCode::kUnavailable) << s.ToString();
  EXPECT_EQ(clock_.Elapsed(), seconds(3));
  const std::string& m = s.message();
  EXPECT_NE(m.find("after 3.0 s"), std::string::npos) << m;
  EXPECT_NE(m.find("GPU 2 still holds 2048 MiB of pid 1234 (ended)"), std::string::npos) << m;
  EXPECT_NE(m.find("GPU 0 still holds 1 MiB of pid 401 (alive, in process group 400"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("GPU 0 still holds memory (NVML does not say how much) of pid 555"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("GPU 1"), std::string::npos) << m;  // not one of the devices asked about
}

TEST_F(GpuMemoryWatchTest, TheDeadlineMessageIsBounded) {
  std::vector<std::string> lines;
  for (int pid = 5000; pid < 5100; ++pid) lines.push_back("0 " + std::to_string(pid) + " 1");
  SetNvmlProcesses(lines);
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  const Status s = watch->WaitReleased({0}, {}, clock_, clock_.Now() + milliseconds(250));
  ASSERT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.message().find("; and 92 more"), std::string::npos) << s.message();
  EXPECT_LT(s.message().size(), 1000U);
  // The last sleep stops at the deadline.
  EXPECT_EQ(clock_.Elapsed(), milliseconds(250));
}

// A real process, seen through the real /proc (the fake root links to it):
// a stopped worker's group whose last member is still there.
TEST_F(GpuMemoryWatchTest, WaitsForARealProcessOfTheStoppedGroup) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Gone with the test, even one that aborts (a sanitizer's report)
    // before its cleanup runs: a child left holding the output pipe would
    // keep ctest waiting for its end.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);
    pause();
    _exit(0);
  }
  setpgid(child, child);  // either side may run first
  fs::create_directory_symlink("/proc/" + std::to_string(child),
                               proc_ + "/" + std::to_string(child));
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{child};
  SetNvmlProcesses({"1 " + std::to_string(child) + " 1048576"});
  std::unique_ptr<GpuMemoryWatch> watch = Open();
  ASSERT_NE(watch, nullptr);
  // Alive in a group other than the stopped ones: not waited for.
  EXPECT_TRUE(watch->WaitReleased({1}, {1}, clock_, clock_.Now() + seconds(30)).ok());
  EXPECT_TRUE(clock_.sleeps().empty());
  // In the stopped group: waited for while it lives. Reaped at 0.5 s, it is
  // gone from /proc but NVML still lists it: "ended", held to the deadline.
  bool reaped = false;
  clock_.At(milliseconds(500), [&] {
    kill(child, SIGKILL);
    reaped = waitpid(child, nullptr, 0) == child;
  });
  const Status s = watch->WaitReleased({1}, {child}, clock_, clock_.Now() + seconds(2));
  EXPECT_TRUE(reaped);
  ASSERT_EQ(s.code(), ErrorCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("pid " + std::to_string(child) + " (ended)"), std::string::npos)
      << s.message();
}

#endif  // BERTH_FAKE_NVML

}  // namespace
}  // namespace berth::runtime::local
