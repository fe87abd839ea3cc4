// `berth down` (and the next `berth run`) on the run dir of a berth killed
// with SIGKILL: the Slurm job it recorded is cancelled when it is still this
// run's and still there; nothing is asked of Slurm for a run without one.

#include "run/slurm_leftover.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/slurm/holder.h"
#include "testing/fake_clock.h"
#include "testing/fake_command_runner.h"

namespace berth::run {
namespace {

namespace fs = std::filesystem;
using testing::FakeCommandRunner;

class SlurmLeftoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-slurm-leftover-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    std::ofstream(dir_ + "/holder.sh") << runtime::slurm::kHolderScript;
    state_.experiment = "demo";
    state_.run_dir = dir_;
    state_.berth_pid = 999999;
    state_.slurm_job = "31";
    runner_.Prints("scancel", "");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Row(const std::string& state) const {
    return "31|" + state + "|berth-demo|" + dir_ + "/holder.sh " + dir_ +
           "/slurm.heartbeat 15 2|\n";
  }

  std::string dir_;
  formats::RunState state_;
  FakeCommandRunner runner_;
  testing::FakeClock clock_;
};

TEST_F(SlurmLeftoverTest, TheJobOfADeadBerthIsCancelled) {
  runner_.On("squeue", [this, n = 0](const FakeCommandRunner::Argv&) mutable {
    return runtime::slurm::CommandResult{0, Row(n++ == 0 ? "RUNNING" : "CANCELLED"), ""};
  });
  EXPECT_TRUE(EndLeftoverSlurmJob(state_, dir_, "berth down", true, runner_, clock_));
  EXPECT_EQ(runner_.CallsOf("scancel"), (std::vector<FakeCommandRunner::Argv>{{"scancel", "31"}}));
}

TEST_F(SlurmLeftoverTest, NothingToCancelIsNotAFailure) {
  runner_.Prints("squeue", Row("COMPLETED"));
  EXPECT_TRUE(EndLeftoverSlurmJob(state_, dir_, "berth down", true, runner_, clock_));
  EXPECT_TRUE(runner_.CallsOf("scancel").empty());
  // A local run records no job: Slurm is not asked at all.
  state_.slurm_job.clear();
  EXPECT_TRUE(EndLeftoverSlurmJob(state_, dir_, "berth down", true, runner_, clock_));
  EXPECT_EQ(runner_.CallsOf("squeue").size(), 1U);
}

TEST_F(SlurmLeftoverTest, SlurmOutOfReachIsAFailure) {
  runner_.On("squeue", [](const FakeCommandRunner::Argv&) {
    return runtime::slurm::CommandResult{1, "", "Unable to contact slurm controller\n"};
  });
  EXPECT_FALSE(EndLeftoverSlurmJob(state_, dir_, "berth down", true, runner_, clock_));
}

TEST_F(SlurmLeftoverTest, FurtherJobsAreCancelledFromTheirOwnFolders) {
  fs::create_directory(dir_ + "/further-1");
  std::ofstream(dir_ + "/further-1/holder.sh") << runtime::slurm::kHolderScript;
  state_.further_slurm_jobs = {{"40", "further-1"}, {"41", "../elsewhere"}};
  runner_.On("squeue", [this](const FakeCommandRunner::Argv& argv) {
    const bool further = std::find(argv.begin(), argv.end(), "40") != argv.end();
    const std::string dir = further ? dir_ + "/further-1" : dir_;
    const std::string id = further ? "40" : "31";
    const bool cancelled =
        !runner_.CallsOf("scancel").empty() && runner_.CallsOf("scancel").back().back() == id;
    return runtime::slurm::CommandResult{0,
                                         id + "|" + (cancelled ? "CANCELLED" : "RUNNING") +
                                             "|berth-demo|" + dir + "/holder.sh " + dir +
                                             "/slurm.heartbeat 15 2|\n",
                                         ""};
  });
  // The one outside the run dir is left alone, and said so: not all ended.
  EXPECT_FALSE(EndLeftoverSlurmJob(state_, dir_, "berth down", true, runner_, clock_));
  EXPECT_EQ(runner_.CallsOf("scancel"),
            (std::vector<FakeCommandRunner::Argv>{{"scancel", "31"}, {"scancel", "40"}}));
}

}  // namespace
}  // namespace berth::run
