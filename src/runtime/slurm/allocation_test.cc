// The Slurm allocation's life on scripted Slurm answers and a fake clock:
// submission, waiting for the job to run (pending reasons, the queue
// timeout, a job that ends first, an interruption), the granted GPUs, and
// cancellation. No Slurm and no real waiting: the real daemons are exercised
// by tests/slurm/.

#include "runtime/slurm/allocation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/fake_clock.h"
#include "testing/fake_command_runner.h"

namespace berth::runtime::slurm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeCommandRunner;

// One squeue row (kSqueueFormat) of a plain job.
std::string Row(const std::string& state, const std::string& reason) {
  return "42|42|N/A|N/A|" + state + "|1|" + (state == "PENDING" ? "" : "node1") + "|" + reason +
         "|\n";
}

class AllocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "allocation_test_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    runner_.Prints("sbatch", "42\n");
    runner_.Prints("scontrol",
                   "JobId=42 JobName=hold\n"
                   "     Nodes=node1 CPU_IDs=0-1 Mem=1024 GRES=gpu:2(IDX:1,3)\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // squeue answers the states in turn, then the last one for ever.
  void SqueueSays(std::vector<std::string> rows) {
    runner_.On("squeue", [rows, n = size_t{0}](const FakeCommandRunner::Argv&) mutable {
      const std::string& row = rows[std::min(n++, rows.size() - 1)];
      return CommandResult{0, row, ""};
    });
  }

  Allocation Submitted() {
    Result<Allocation> a =
        Allocation::Submit("demo", "", {{"node1", 2, 1024, {0, 1}}}, dir_, runner_, clock_);
    EXPECT_TRUE(a.has_value()) << a.error().ToString();
    return std::move(a).value();
  }

  std::string dir_;
  FakeCommandRunner runner_;
  FakeClock clock_;
};

TEST_F(AllocationTest, SubmitsTheHolderScriptAndReadsTheJobId) {
  runner_.Prints("sbatch", "42;cluster\n");
  Allocation a = Submitted();
  EXPECT_EQ(a.job_id(), "42");
  ASSERT_EQ(runner_.CallsOf("sbatch").size(), 1u);
  const FakeCommandRunner::Argv sbatch = runner_.CallsOf("sbatch")[0];
  EXPECT_EQ(sbatch[1], "--parsable");
  // The script, then its arguments: the heartbeat it watches (absolute: the
  // job runs elsewhere), the limit and the interval (holder.h).
  const std::string abs = std::filesystem::absolute(dir_).lexically_normal().string();
  ASSERT_GE(sbatch.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(sbatch.end() - 4, sbatch.end()),
            (std::vector<std::string>{abs + "/holder.sh", abs + "/slurm.heartbeat",
                                      std::to_string(kHeartbeatLimit.count()),
                                      std::to_string(kHeartbeatInterval.count())}));
  EXPECT_NE(std::find(sbatch.begin(), sbatch.end(), "--output=" + abs + "/holder.log"),
            sbatch.end());
  std::ifstream f(dir_ + "/holder.sh");
  std::stringstream text;
  text << f.rdbuf();
  EXPECT_EQ(text.str(), kHolderScript);
  // berth beats before the job can start.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/slurm.heartbeat"));
}

TEST_F(AllocationTest, AHolderScriptPlantedAsALinkIsRefusedAndNothingSubmitted) {
  std::ofstream(dir_ + "/precious") << "keep\n";
  std::filesystem::create_symlink(dir_ + "/precious", dir_ + "/holder.sh");
  Result<Allocation> a =
      Allocation::Submit("demo", "", {{"node1", 2, 1024, {0}}}, dir_, runner_, clock_);
  ASSERT_FALSE(a.has_value());
  EXPECT_NE(a.error().message().find("symbolic link"), std::string::npos) << a.error().message();
  EXPECT_TRUE(runner_.CallsOf("sbatch").empty());
  std::ifstream f(dir_ + "/precious");
  std::string kept;
  std::getline(f, kept);
  EXPECT_EQ(kept, "keep");
}

TEST_F(AllocationTest, SbatchPrintingNoJobIdIsAnError) {
  runner_.Prints("sbatch", "Submitted batch job soon\n");
  Result<Allocation> a =
      Allocation::Submit("demo", "", {{"node1", 2, 1024, {0}}}, dir_, runner_, clock_);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code(), ErrorCode::kBackend);
  EXPECT_NE(a.error().message().find("instead of a job id"), std::string::npos);
}

TEST_F(AllocationTest, WaitsWhilePendingAndReportsEachNewReason) {
  SqueueSays({Row("PENDING", "Resources"), Row("PENDING", "Resources"), Row("PENDING", "Priority"),
              Row("RUNNING", "None")});
  Allocation a = Submitted();
  std::vector<std::string> told;
  Status st = a.WaitRunning(
      seconds(60), [&](const std::string& why) { told.push_back(why); }, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(told, (std::vector<std::string>{"PENDING: Resources", "PENDING: Priority"}));
  // Three pending answers, a pause after each, on the fake clock only.
  EXPECT_EQ(clock_.sleeps().size(), 3u);
  EXPECT_EQ(clock_.Elapsed(), milliseconds(750));
  // The granted devices, from scontrol, for the planned ones.
  EXPECT_EQ(a.granted_gpus("node1"), (std::vector<int>{1, 3}));
  EXPECT_EQ(a.planned_gpus("node1"), (std::vector<int>{0, 1}));
}

TEST_F(AllocationTest, StillPendingAtTheQueueTimeoutSaysWhyAndWhatToDo) {
  SqueueSays({Row("PENDING", "Resources")});
  Allocation a = Submitted();
  Status st = a.WaitRunning(seconds(5), nullptr, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable);
  EXPECT_NE(st.message().find("still PENDING (reason: Resources)"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("slurm.queue_timeout of 5 s"), std::string::npos);
  EXPECT_NE(st.message().find("raise it"), std::string::npos);
  // Gave up within one pause after the deadline, having waited only on the
  // fake clock.
  EXPECT_GE(clock_.Elapsed(), seconds(5));
  EXPECT_LE(clock_.Elapsed(), seconds(5) + milliseconds(250));
}

TEST_F(AllocationTest, AJobThatEndsBeforeItRunsIsAnError) {
  SqueueSays({Row("PENDING", "Resources"), Row("FAILED", "NonZeroExitCode")});
  Allocation a = Submitted();
  Status st = a.WaitRunning(seconds(60), nullptr, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kBackend);
  EXPECT_NE(st.message().find("ended FAILED (NonZeroExitCode) before it ran"), std::string::npos)
      << st.message();
}

TEST_F(AllocationTest, InterruptedWhilePending) {
  SqueueSays({Row("PENDING", "Resources")});
  Allocation a = Submitted();
  int asked = 0;
  Status st = a.WaitRunning(seconds(60), nullptr, [&] { return ++asked > 2; });
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable);
  EXPECT_NE(st.message().find("interrupted"), std::string::npos);
  EXPECT_EQ(runner_.CallsOf("squeue").size(), 2u);
}

TEST_F(AllocationTest, GrantedGpusThatDifferFromThePlanAreAnError) {
  SqueueSays({Row("RUNNING", "None")});
  runner_.Prints("scontrol", "JobId=42\n     Nodes=node1 CPU_IDs=0 Mem=1 GRES=gpu:1(IDX:0)\n");
  Allocation a = Submitted();
  Status st = a.WaitRunning(seconds(60), nullptr, nullptr);
  EXPECT_EQ(st.code(), ErrorCode::kBackend);
  EXPECT_NE(st.message().find("granted 1 GPU(s) on node1 where the plan asked for 2"),
            std::string::npos)
      << st.message();
}

TEST_F(AllocationTest, CancelWaitsUntilSlurmReportsTheJobEnded) {
  SqueueSays({Row("RUNNING", "None"), Row("COMPLETING", "None"), Row("CANCELLED", "None")});
  runner_.Prints("scancel", "");
  Allocation a = Submitted();
  EXPECT_TRUE(a.Cancel().ok());
  EXPECT_EQ(runner_.CallsOf("scancel"), (std::vector<FakeCommandRunner::Argv>{{"scancel", "42"}}));
  EXPECT_EQ(runner_.CallsOf("squeue").size(), 3u);
  // Once cancelled, a second Cancel does nothing.
  EXPECT_TRUE(a.Cancel().ok());
  EXPECT_EQ(runner_.CallsOf("scancel").size(), 1u);
}

TEST_F(AllocationTest, CancelAfterANodeWasLostStopsWaitingOnceTheJobIsCompleting) {
  // The lost node keeps it COMPLETING until Slurm marks that node down.
  SqueueSays({Row("RUNNING", "None"), Row("COMPLETING", "None")});
  runner_.Prints("scancel", "");
  Allocation a = Submitted();
  EXPECT_TRUE(a.Cancel(/*node_lost=*/true).ok());
  EXPECT_EQ(runner_.CallsOf("squeue").size(), 2u);
  EXPECT_LT(clock_.Elapsed(), seconds(1));
}

TEST_F(AllocationTest, CancelOfAJobSlurmNoLongerListsIsDone) {
  SqueueSays({""});
  runner_.Prints("scancel", "");
  Allocation a = Submitted();
  EXPECT_TRUE(a.Cancel().ok());
}

TEST_F(AllocationTest, CancelGivesUpAfterItsBoundedWait) {
  SqueueSays({Row("RUNNING", "None")});
  runner_.Prints("scancel", "");
  Allocation a = Submitted();
  Status st = a.Cancel();
  EXPECT_EQ(st.code(), ErrorCode::kBackend);
  EXPECT_NE(st.message().find("has not ended after 30 s"), std::string::npos) << st.message();
  EXPECT_GE(clock_.Elapsed(), seconds(30));
}

TEST_F(AllocationTest, ClusterFromSinfoThroughTheRunner) {
  // A command the runner cannot run is the error ReadCluster returns.
  Result<std::vector<NodeSpec>> nodes = ReadCluster("", nullptr, true, runner_);
  ASSERT_FALSE(nodes.has_value());
  EXPECT_NE(nodes.error().message().find("sinfo"), std::string::npos);
  ASSERT_EQ(runner_.CallsOf("sinfo").size(), 1u);
}

}  // namespace
}  // namespace berth::runtime::slurm
