// Units (Scheduler::UnitOf) and restarting or dropping one on fakes: which
// workers go together, in which order they stop, that they come back on the
// same devices with new ports, and that nothing outside the unit is touched.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

using Ids = std::vector<std::string>;

RoleSpec Separate(std::string name, int replicas) {
  RoleSpec r = Role(std::move(name), replicas);
  r.placement = PlacementMode::kSeparate;
  return r;
}

std::string Gpus(const Worker& w) {
  std::string s;
  for (const GpuShare& g : w.plan.gpus) s += std::to_string(g.device) + ",";
  return s;
}

class SchedulerRestartTest : public SchedulerFakeTest {};

TEST_F(SchedulerRestartTest, UnitsFollowThePlacement) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("train", 2)));
  ASSERT_TRUE(s.CreateWorkers(Separate("rollout", 3)));
  ASSERT_TRUE(s.CreateWorkers(ForkOf("ref", "train")));
  // A gang is the whole role, with the forks on it.
  EXPECT_EQ(s.UnitOf("train/1"), (Ids{"train/0", "train/1", "ref/0", "ref/1"}));
  // A fork's unit is its target's.
  EXPECT_EQ(s.UnitOf("ref/0"), s.UnitOf("train/0"));
  // An instance is alone.
  EXPECT_EQ(s.UnitOf("rollout/1"), (Ids{"rollout/1"}));
  EXPECT_TRUE(s.UnitOf("nobody/0").empty());
}

TEST_F(SchedulerRestartTest, AnInstanceRestartsAloneOnItsDevicesWithNewPorts) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Separate("rollout", 3)));
  const Worker before = *s.FindWorker("rollout/1");
  ASSERT_TRUE(launcher_->Exit("rollout/1", 3));
  ASSERT_TRUE(s.WaitExits(milliseconds(0)));
  const size_t launched = launcher_->launched().size();

  Result<Ids> ids = s.RestartUnit("rollout/1");
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_EQ(*ids, (Ids{"rollout/1"}));
  // One new launch, under a new launcher id; the others untouched.
  ASSERT_EQ(launcher_->launched().size(), launched + 1);
  EXPECT_EQ(launcher_->launched().back().id, "rollout/1@2");
  EXPECT_TRUE(launcher_->terminations().empty()) << "nothing was running to stop";
  EXPECT_TRUE(launcher_->running("rollout/0"));
  EXPECT_TRUE(launcher_->running("rollout/2"));
  const Worker* after = s.FindWorker("rollout/1");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->phase, WorkerPhase::kReady);
  EXPECT_EQ(after->restarts, 1);
  EXPECT_EQ(Gpus(*after), Gpus(before));
  EXPECT_EQ(after->plan.node, before.plan.node);
  EXPECT_NE(HttpPort(*after), HttpPort(before));
}

TEST_F(SchedulerRestartTest, AGangStopsForksThenRanksThenRankZeroAndStartsTargetFirst) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("train", 3)));
  RoleSpec ref = ForkOf("ref", "train");
  ref.replicas = 3;
  ASSERT_TRUE(s.CreateWorkers(ref));
  ASSERT_TRUE(s.CreateWorkers(Separate("rollout", 2)));
  const Worker rank0 = *s.FindWorker("train/0");
  ASSERT_TRUE(launcher_->Exit("train/2", 1));
  ASSERT_TRUE(s.WaitExits(milliseconds(0)));

  ASSERT_TRUE(s.RestartUnit("train/2"));
  // train/2 had exited: only the running ones are signalled.
  EXPECT_EQ(launcher_->terminations(),
            (std::vector<Ids>{{"ref/0", "ref/1", "ref/2"}, {"train/1"}, {"train/0"}}));
  Ids relaunched;
  for (const LaunchSpec& l : launcher_->launched()) {
    if (l.id.find('@') != std::string::npos) relaunched.push_back(l.id);
  }
  EXPECT_EQ(relaunched,
            (Ids{"train/0@2", "train/1@2", "train/2@2", "ref/0@2", "ref/1@2", "ref/2@2"}));
  // A new rendezvous port for the new gang; the same devices.
  const Worker* again = s.FindWorker("train/0");
  EXPECT_EQ(Gpus(*again), Gpus(rank0));
  EXPECT_NE(again->plan.env, rank0.plan.env);
  // The rollout role never noticed.
  EXPECT_TRUE(launcher_->running("rollout/0"));
  EXPECT_TRUE(launcher_->running("rollout/1"));
  EXPECT_EQ(s.FindWorker("rollout/0")->restarts, 0);
}

TEST_F(SchedulerRestartTest, AFailedRestartLeavesTheUnitOnRecordForTheNextAttempt) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Separate("rollout", 2)));
  ASSERT_TRUE(launcher_->Exit("rollout/0", 3));
  ASSERT_TRUE(s.WaitExits(milliseconds(0)));
  // The new process dies during start-up.
  probe_.ready = [&](const ReadinessTarget&) {
    if (launcher_->running("rollout/0@2")) launcher_->Exit("rollout/0@2", 7);
    return !launcher_->launched().empty() && launcher_->launched().back().id != "rollout/0@2";
  };
  Result<Ids> first = s.RestartUnit("rollout/0");
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code(), ErrorCode::kWorkerFailed);
  EXPECT_NE(first.error().message().find("restart of rollout/0's unit: worker rollout/0 exited "
                                         "with code 7 during start-up"),
            std::string::npos)
      << first.error().message();
  ASSERT_NE(s.FindWorker("rollout/0"), nullptr);
  EXPECT_EQ(s.UnitOf("rollout/0"), (Ids{"rollout/0"}));
  probe_.ready = {};
  ASSERT_TRUE(s.RestartUnit("rollout/0"));
  EXPECT_TRUE(launcher_->running("rollout/0@3"));
  EXPECT_EQ(s.FindWorker("rollout/0")->restarts, 2);
}

TEST_F(SchedulerRestartTest, DropStopsTheUnitAndTheRoleRunsOn) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Separate("rollout", 3)));
  ASSERT_TRUE(s.DropUnit("rollout/1").ok());
  EXPECT_EQ(launcher_->terminations(), (std::vector<Ids>{{"rollout/1"}}));
  EXPECT_EQ(s.FindWorker("rollout/1"), nullptr);
  Result<std::vector<Worker>> left = s.GetWorkers("rollout", seconds(1));
  ASSERT_TRUE(left) << left.error().ToString();
  ASSERT_EQ(left->size(), 2U);
  EXPECT_EQ((*left)[1].plan.id, "rollout/2");
  EXPECT_EQ(s.DropUnit("rollout/1").code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

TEST_F(SchedulerFakeTest, APerRankTorchrunGangRestartedSaysItsRestartCount) {
  Scheduler& s = Start();
  RoleSpec train = Role("train", 2, 1);
  train.tasks[0].cmd.clear();
  train.tasks[0].ports.clear();
  train.readiness = {};
  train.launcher = LauncherSpec{};
  train.launcher->args = {"train.py"};
  train.launcher->mode = LauncherSpec::Mode::kPerRank;
  Result<std::vector<std::string>> ids = s.CreateWorkers(train);
  ASSERT_TRUE(ids) << ids.error().ToString();
  auto count = [&](const std::string& id) {
    for (const auto& [name, value] : s.FindWorker(id)->plan.env) {
      if (name == "TORCHELASTIC_RESTART_COUNT") return value;
    }
    return std::string("none");
  };
  EXPECT_EQ(count("train/1"), "0");
  ASSERT_TRUE(s.RestartUnit("train/1"));
  EXPECT_EQ(count("train/0"), "1");
  EXPECT_EQ(count("train/1"), "1");
  ASSERT_TRUE(s.RestartUnit("train/0"));
  EXPECT_EQ(count("train/1"), "2");
}

}  // namespace
}  // namespace berth
