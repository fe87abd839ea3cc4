// "Not now" against "never" on a Slurm partition, on sinfo samples of the
// real Slurm (testdata/slurm/): busy nodes make the job wait (PENDING, naming
// them, those the plan waits for first); only what does not fit the nodes
// as configured is INFEASIBLE, explained against them.

#include "runtime/slurm/slurm_fit.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "roles/ports.h"
#include "runtime/slurm/allocation.h"
#include "testing/fake_command_runner.h"

namespace berth::runtime::slurm {
namespace {

using testing::FakeCommandRunner;

std::string Sample(const std::string& name) {
  const std::string file = __FILE__;
  std::ifstream f(file.substr(0, file.rfind('/')) + "/testdata/slurm/" + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

ExperimentSpec Experiment(int replicas, int gpu, int cpu = 1) {
  Result<ExperimentSpec> e = ParseExperiment(
      "name: t\nbackend: slurm\nroles:\n  - name: w\n"
      "    replicas: " +
          std::to_string(replicas) +
          "\n    placement: separate\n"
          "    scheduling_spec: {cpu: " +
          std::to_string(cpu) + ", gpu: " + std::to_string(gpu) + ", cmd: [x]}\n",
      "t.yaml");
  EXPECT_TRUE(e) << e.error().message();
  return *e;
}

class SlurmFitTest : public ::testing::Test {
 protected:
  Result<SlurmFit> Fit(const ExperimentSpec& e, const std::string& sinfo) {
    runner_.Prints("sinfo", sinfo);
    Result<std::vector<NodeSpec>> free = ReadCluster("", nullptr, true, runner_);
    EXPECT_TRUE(free) << free.error().message();
    return PlanOnSlurm(e, *free, roles::CountingPorts(), runner_);
  }
  FakeCommandRunner runner_;
};

TEST_F(SlurmFitTest, WhatFitsNowIsPlannedOnWhatIsFree) {
  Result<SlurmFit> f = Fit(Experiment(2, 8), Sample("sinfo_idle.txt"));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_FALSE(f->pending);
  EXPECT_TRUE(f->busy.empty());
  EXPECT_EQ(f->plan.workers.size(), 2u);
  EXPECT_EQ(runner_.CallsOf("sinfo").size(), 1u);  // no second look
}

TEST_F(SlurmFitTest, BusyNodesMakeItPendingNotNeverFits) {
  // Two whole 8-GPU nodes; every node of the sample has other jobs on it.
  Result<SlurmFit> f = Fit(Experiment(2, 8), Sample("sinfo_busy.txt"));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_TRUE(f->pending);
  ASSERT_EQ(f->plan.workers.size(), 2u);
  ASSERT_EQ(f->busy.size(), 4u);
  // The nodes the plan waits for come first, each with what is in use.
  const std::string first = f->plan.workers[0].node;
  EXPECT_EQ(f->busy[0].rfind(first + " (", 0) == 0 || f->busy[1].rfind(first + " (", 0) == 0, true)
      << f->busy[0] << " / " << f->busy[1];
  EXPECT_NE(std::find(f->busy.begin(), f->busy.end(),
                      "node3 (CPUs 16/16, GPUs 8/8, memory 16/62.5 GiB in use)"),
            f->busy.end())
      << f->busy[0] << "; " << f->busy[1] << "; " << f->busy[2] << "; " << f->busy[3];
}

TEST_F(SlurmFitTest, WhatNeverFitsIsInfeasibleAgainstTheNodesAsConfigured) {
  // 17 CPUs on one node; the nodes have 16.
  Result<SlurmFit> f = Fit(Experiment(1, 1, 17), Sample("sinfo_busy.txt"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kInfeasible) << f.error().message();
  EXPECT_NE(f.error().message().find("the most any node has is CPU 16"), std::string::npos)
      << f.error().message();
}

TEST_F(SlurmFitTest, BusyNodesListsOnlyNodesWithSomethingInUse) {
  NodeSpec total{"a", {}, {}};
  total.resources.Set(kCpu, Quantity::Whole(16));
  total.resources.Set(kGpu, Quantity::Whole(8));
  NodeSpec free = total;
  NodeSpec idle{"b", total.resources, {}};
  free.resources.Set(kGpu, Quantity::Whole(6));
  EXPECT_EQ(BusyNodes({free, idle}, {total, idle}),
            (std::vector<std::string>{"a (GPUs 2/8 in use)"}));
}

}  // namespace
}  // namespace berth::runtime::slurm
