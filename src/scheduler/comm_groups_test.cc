// Communication groups on the Scheduler (fakes): ranks, world size and
// rendezvous in each member's env; version 1 when roles come up as planned;
// a new version (and port) when members change: a scale, a restart, a drop.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "berth/plan.h"
#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

CommGroupSpec Weights() { return {"weights", {{"actor", {0}}, {"rollout", {}}}}; }

RoleSpec Rollout(int replicas) {
  RoleSpec r = Role("rollout", replicas);
  r.placement = PlacementMode::kSeparate;
  r.on_failure.action = FailurePolicy::Action::kRestart;
  return r;
}

class CommGroupsTest : public SchedulerFakeTest {
 protected:
  std::string Env(const std::string& id, const std::string& name) {
    const Worker* w = scheduler_->FindWorker(id);
    if (w == nullptr) return "<no worker>";
    for (const auto& [k, v] : w->plan.env) {
      if (k == "BERTH_GROUP_WEIGHTS_" + name) return v;
    }
    return "<unset>";
  }
  const CommGroup& Now() {
    groups_now_ = scheduler_->CommGroups();
    EXPECT_EQ(groups_now_.size(), 1U);
    return groups_now_.at(0);
  }
  std::vector<CommGroup> seen_;
  std::vector<CommGroup> groups_now_;
};

TEST_F(CommGroupsTest, RolesComingUpOneByOneMakeVersionsWithoutAPlan) {
  Scheduler& s = Start([&](SchedulerOptions& o) {
    o.comm_groups = {Weights()};
    o.on_comm_group = [&](const CommGroup& g) { seen_.push_back(g); };
  });
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2)));
  EXPECT_EQ(Now().version, 1);
  EXPECT_EQ(Now().members, (std::vector<std::string>{"actor/0"}));
  EXPECT_EQ(Env("actor/0", "WORLD_SIZE"), "1");
  EXPECT_EQ(Env("actor/1", "RANK"), "<unset>");  // not a member
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  const CommGroup& g = Now();
  EXPECT_EQ(g.version, 2);
  EXPECT_EQ(g.members, (std::vector<std::string>{"actor/0", "rollout/0", "rollout/1"}));
  EXPECT_EQ(Env("rollout/1", "RANK"), "2");
  EXPECT_EQ(Env("rollout/1", "WORLD_SIZE"), "3");
  EXPECT_EQ(Env("rollout/1", "VERSION"), "2");
  EXPECT_EQ(Env("rollout/0", "MASTER_ADDR"), "127.0.0.1");
  EXPECT_EQ(Env("rollout/0", "MASTER_PORT"), std::to_string(g.master_port));
  EXPECT_GT(g.master_port, 0);
  ASSERT_EQ(seen_.size(), 2U);
  EXPECT_EQ(seen_.back(), g);
}

TEST_F(CommGroupsTest, RolesComingUpAsPlannedKeepVersionOneAndThePlansPort) {
  ExperimentSpec e;
  e.name = "x";
  e.roles = {Role("actor", 2), Rollout(2)};
  e.comm_groups = {Weights()};
  Result<Plan> plan = MakePlan(e, {Node(8)}, roles::CountingPorts(45000));
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_EQ(plan->comm_groups.size(), 1U);
  Scheduler& s = Start([&](SchedulerOptions& o) {
    o.comm_groups = e.comm_groups;
    o.planned_workers = plan->workers;
    o.planned_comm_groups = plan->comm_groups;
  });
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2)));
  EXPECT_EQ(Env("actor/0", "WORLD_SIZE"), "3");  // the rollout to come counts
  EXPECT_EQ(Env("actor/0", "VERSION"), "1");
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  EXPECT_EQ(Now().version, 1);
  EXPECT_GT(Now().master_port, 0);  // a port of the run's own, not the plan's counted one
  EXPECT_EQ(Env("rollout/1", "RANK"), "2");
  EXPECT_EQ(Env("rollout/1", "MASTER_PORT"), Env("actor/0", "MASTER_PORT"));
}

TEST_F(CommGroupsTest, AScaleARestartAndADropEachMakeANewVersion) {
  Scheduler& s = Start([&](SchedulerOptions& o) { o.comm_groups = {Weights()}; });
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 1)));
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  const int v = Now().version;
  const int port = Now().master_port;

  ASSERT_TRUE(s.ScaleWorkers("rollout", 3));
  EXPECT_EQ(Now().version, v + 1);
  EXPECT_NE(Now().master_port, port);
  EXPECT_EQ(Now().members.size(), 4U);
  EXPECT_EQ(Env("rollout/2", "VERSION"), std::to_string(v + 1));
  EXPECT_EQ(Env("rollout/2", "RANK"), "3");

  ASSERT_TRUE(launcher_->Exit("rollout/1", 3));
  ASSERT_TRUE(s.WaitExits(milliseconds(0)));
  ASSERT_TRUE(s.RestartUnit("rollout/1"));  // same members, a new process
  EXPECT_EQ(Now().version, v + 2);
  EXPECT_EQ(Env("rollout/1", "VERSION"), std::to_string(v + 2));

  ASSERT_TRUE(s.ScaleWorkers("rollout", 2));
  EXPECT_EQ(Now().version, v + 3);
  EXPECT_EQ(Now().members, (std::vector<std::string>{"actor/0", "rollout/0", "rollout/1"}));

  ASSERT_TRUE(s.DropUnit("rollout/1").ok());
  EXPECT_EQ(Now().version, v + 4);
  EXPECT_EQ(Now().members, (std::vector<std::string>{"actor/0", "rollout/0"}));
  // Nothing changed: the same version.
  ASSERT_TRUE(s.ScaleWorkers("rollout", 1));  // rollout/0 alone: no change of members
  EXPECT_EQ(Now().version, v + 4);
}

}  // namespace
}  // namespace berth
