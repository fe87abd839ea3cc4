// The job a dead berth left, on scripted squeue/scancel answers: a job of
// this run that still runs or waits is cancelled and waited for; one that
// ended or that Slurm forgot is left; a recorded id that Slurm has since
// given to another job (another name, another script) is never cancelled.

#include "runtime/slurm/leftover_job.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/slurm/holder.h"
#include "testing/fake_clock.h"
#include "testing/fake_command_runner.h"

namespace berth::runtime::slurm {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::FakeCommandRunner;

class LeftoverJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-leftover-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    std::ofstream(dir_ + "/" + kHolderScriptFile) << kHolderScript;
    runner_.Prints("scancel", "");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One row per component, as squeue -O JobID:|,State:|,Name:|,Command:| prints it.
  std::string Row(const std::string& id, const std::string& state,
                  const std::string& name = "berth-demo", const std::string& script = "") {
    return id + "|" + state + "|" + name + "|" +
           (script.empty() ? dir_ + "/" + kHolderScriptFile : script) + " " + dir_ +
           "/slurm.heartbeat 15 2|\n";
  }
  // squeue answers these in turn, then the last for ever.
  void SqueueSays(std::vector<std::string> answers) {
    runner_.On("squeue", [answers, n = size_t{0}](const FakeCommandRunner::Argv&) mutable {
      return CommandResult{0, answers[std::min(n++, answers.size() - 1)], ""};
    });
  }

  std::string dir_;
  FakeCommandRunner runner_;
  FakeClock clock_;
};

TEST_F(LeftoverJobTest, ARunningJobOfThisRunIsCancelledAndWaitedFor) {
  SqueueSays({Row("7", "RUNNING") + Row("8", "RUNNING"), Row("7", "COMPLETING"),
              Row("7", "CANCELLED") + Row("8", "CANCELLED")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kCancelled);
  EXPECT_EQ(r->state_text, "RUNNING");
  EXPECT_EQ(runner_.CallsOf("scancel"), (std::vector<FakeCommandRunner::Argv>{{"scancel", "7"}}));
  EXPECT_EQ(runner_.CallsOf("squeue").size(), 3u);
  EXPECT_EQ(runner_.CallsOf("squeue")[0],
            (FakeCommandRunner::Argv{"squeue", "-h", "-t", "all", "-j", "7", "-O",
                                     "JobID:|,State:|,Name:|,Command:|"}));
}

TEST_F(LeftoverJobTest, APendingJobLeavesTheQueue) {
  SqueueSays({Row("7", "PENDING"), Row("7", "CANCELLED")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kCancelled);
  EXPECT_EQ(r->state_text, "PENDING");
}

TEST_F(LeftoverJobTest, AJobThatEndedOrThatSlurmForgotIsLeftAlone) {
  SqueueSays({Row("7", "CANCELLED")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kGone);
  EXPECT_EQ(r->state_text, "CANCELLED");
  // Older than MinJobAge: squeue fails with "Invalid job id specified".
  runner_.On("squeue", [](const FakeCommandRunner::Argv&) {
    return CommandResult{1, "", "slurm_load_jobs error: Invalid job id specified\n"};
  });
  r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kGone);
  EXPECT_EQ(r->state_text, "");
  EXPECT_TRUE(runner_.CallsOf("scancel").empty());
}

TEST_F(LeftoverJobTest, AnIdNowHeldByAnotherJobIsNeverCancelled) {
  SqueueSays({Row("7", "RUNNING", "someones-training")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kNotOurs);
  EXPECT_NE(r->detail.find("someones-training"), std::string::npos) << r->detail;
  // Named like ours but running another run dir's holder script.
  fs::create_directories(dir_ + "/other");
  std::ofstream(dir_ + "/other/" + kHolderScriptFile) << kHolderScript;
  SqueueSays({Row("7", "RUNNING", "berth-demo", dir_ + "/other/" + kHolderScriptFile)});
  r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kNotOurs);
  EXPECT_TRUE(runner_.CallsOf("scancel").empty());
}

TEST_F(LeftoverJobTest, TheSameScriptThroughAnotherPathIsOurs) {
  fs::create_symlink(dir_, dir_ + ".link");
  SqueueSays({Row("7", "RUNNING", "berth-demo", dir_ + ".link/" + kHolderScriptFile),
              Row("7", "CANCELLED")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  fs::remove(dir_ + ".link");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome, LeftoverJob::Outcome::kCancelled);
}

TEST_F(LeftoverJobTest, ErrorsSaySoAndNothingIsCancelled) {
  // Slurm cannot be reached.
  runner_.On("squeue", [](const FakeCommandRunner::Argv&) {
    return CommandResult{1, "", "slurm_load_jobs error: Unable to contact slurm controller\n"};
  });
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("squeue"), std::string::npos) << r.error().message();
  // A recorded id that is no job id (state.json is a file anyone may edit).
  r = EndLeftoverJob("7; rm -rf /", "berth-demo", dir_, runner_, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_TRUE(runner_.CallsOf("scancel").empty());
}

TEST_F(LeftoverJobTest, AJobThatDoesNotEndIsAnErrorAfterTheBoundedWait) {
  SqueueSays({Row("7", "RUNNING")});
  Result<LeftoverJob> r = EndLeftoverJob("7", "berth-demo", dir_, runner_, clock_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("has not ended after 30 s"), std::string::npos)
      << r.error().message();
  EXPECT_GE(clock_.Elapsed(), std::chrono::seconds(30));
}

}  // namespace
}  // namespace berth::runtime::slurm
