// A node lost while the run goes on (Scheduler::LoseNode, Recovery::OnNodeLost)
// on fakes: which workers it names, where their units start again (the
// bundles that stood on it placed anew, the rest where they were), what
// happens when nothing fits, and which policies handle it.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "berth/recovery.h"
#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

using Ids = std::vector<std::string>;

NodeSpec NamedNode(const std::string& name, int gpus) {
  NodeSpec n = Node(gpus);
  n.name = name;
  n.labels["address"] = "10.0.0." + name.substr(name.size() - 1);
  return n;
}

RoleSpec Instances(std::string name, int replicas, int gpu) {
  RoleSpec r = Role(std::move(name), replicas, gpu);
  r.placement = PlacementMode::kSeparate;
  r.on_failure.action = FailurePolicy::Action::kRestart;
  return r;
}

class NodeLossTest : public SchedulerFakeTest {
 protected:
  // Three nodes of 4 GPUs each.
  Scheduler& StartOnThree(int spare_gpus = 4) {
    return Start([&](SchedulerOptions& o) {
      o.nodes = {NamedNode("node1", 4), NamedNode("node2", 4), NamedNode("node3", spare_gpus)};
      o.before_restart = [this](const std::vector<Worker>& stopped,
                                const std::vector<WorkerPlan>& next) {
        stopped_ = stopped;
        next_ = next;
        return hook_;
      };
    });
  }
  std::vector<Worker> stopped_;
  std::vector<WorkerPlan> next_;
  Status hook_;
};

TEST_F(NodeLossTest, AnInstanceOnTheLostNodeStartsAgainOnANodeLeft) {
  Scheduler& s = StartOnThree();
  ASSERT_TRUE(s.CreateWorkers(Instances("rollout", 2, 4)));
  const Worker other = *s.FindWorker("rollout/0");
  const std::string lost = s.FindWorker("rollout/1")->plan.node;
  ASSERT_NE(lost, other.plan.node);

  Result<Ids> on_it = s.LoseNode(lost);
  ASSERT_TRUE(on_it) << on_it.error().ToString();
  EXPECT_EQ(*on_it, (Ids{"rollout/1"}));
  Result<Ids> ids = s.RestartUnit("rollout/1");
  ASSERT_TRUE(ids) << ids.error().ToString();
  const Worker* again = s.FindWorker("rollout/1");
  EXPECT_EQ(again->plan.node, "node3");
  EXPECT_EQ(again->plan.address, "10.0.0.3");
  EXPECT_EQ(again->plan.gpus.size(), 4U);
  EXPECT_EQ(again->phase, WorkerPhase::kReady);
  // The hook saw the old worker stopped and the new one where it will run.
  ASSERT_EQ(stopped_.size(), 1U);
  EXPECT_EQ(stopped_[0].plan.node, lost);
  EXPECT_NE(stopped_[0].phase, WorkerPhase::kReady);
  ASSERT_EQ(next_.size(), 1U);
  EXPECT_EQ(next_[0].node, "node3");
  // The other instance is untouched.
  const Worker* still = s.FindWorker("rollout/0");
  EXPECT_EQ(still->pid, other.pid);
  EXPECT_EQ(still->plan.node, other.plan.node);
  EXPECT_EQ(still->restarts, 0);
  // The lost node is gone for good.
  EXPECT_EQ(s.LoseNode(lost).error().code(), ErrorCode::kNotFound);
}

TEST_F(NodeLossTest, AGangKeepsItsRanksWhereTheyWereAndMovesTheLostOnes) {
  Scheduler& s = StartOnThree();
  RoleSpec train = Role("train", 2, 4);  // shared: one PACK group, a rank per node
  ASSERT_TRUE(s.CreateWorkers(train));
  const std::string node0 = s.FindWorker("train/0")->plan.node;
  const std::string node1 = s.FindWorker("train/1")->plan.node;
  ASSERT_NE(node0, node1);

  Result<Ids> on_it = s.LoseNode(node1);
  ASSERT_TRUE(on_it);
  EXPECT_EQ(*on_it, (Ids{"train/1"}));
  ASSERT_TRUE(s.RestartUnit("train/1"));
  // The whole gang started again, rank 0 where it was, rank 1 on node3.
  EXPECT_EQ(s.FindWorker("train/0")->plan.node, node0);
  EXPECT_EQ(s.FindWorker("train/1")->plan.node, "node3");
  EXPECT_EQ(s.FindWorker("train/0")->restarts, 1);
  EXPECT_EQ(next_.size(), 2U);
}

TEST_F(NodeLossTest, PerNodeTorchrunLaunchersFollowTheNodesTheGangNowHas) {
  // 8 ranks of 1 GPU on node1 and node2 (4 each): two launchers. node2 lost,
  // its 4 ranks go to node3 (2 GPUs) and node4 (2 GPUs): three launchers.
  Scheduler& s = Start([&](SchedulerOptions& o) {
    o.nodes = {NamedNode("node1", 4), NamedNode("node2", 4), NamedNode("node3", 2),
               NamedNode("node4", 2)};
  });
  RoleSpec train = Role("train", 8, 1);
  train.tasks[0].cmd.clear();
  train.tasks[0].ports.clear();
  train.readiness = {};
  train.launcher = LauncherSpec{};  // torchrun, per node
  train.launcher->args = {"train.py"};
  Result<Ids> ids = s.CreateWorkers(train);
  ASSERT_TRUE(ids) << ids.error().ToString();
  ASSERT_EQ(ids->size(), 2U);
  const std::string lost = s.FindWorker("train/1")->plan.node;
  Result<Ids> on_it = s.LoseNode(lost);
  ASSERT_TRUE(on_it);
  ids = s.RestartUnit(on_it->at(0));
  ASSERT_TRUE(ids) << ids.error().ToString();
  std::vector<std::string> nodes;
  for (const Worker& w : s.Workers()) {
    if (w.plan.role == "train")
      nodes.push_back(w.plan.node + ":" + std::to_string(w.plan.gpus.size()));
  }
  std::sort(nodes.begin(), nodes.end());
  EXPECT_EQ(nodes, (std::vector<std::string>{"node1:4", "node3:2", "node4:2"}));
  // Every launcher says the new node count.
  for (const Worker& w : s.Workers()) {
    if (w.plan.role != "train") continue;
    auto flag = std::find(w.plan.argv.begin(), w.plan.argv.end(), "--nnodes");
    ASSERT_NE(flag, w.plan.argv.end()) << ::testing::PrintToString(w.plan.argv);
    EXPECT_EQ(*(flag + 1), "3") << ::testing::PrintToString(w.plan.argv);
  }
}

TEST_F(NodeLossTest, NoRoomLeftFailsTheRestartExplainedAndKeepsTheUnitOnRecord) {
  Scheduler& s = StartOnThree(/*spare_gpus=*/2);
  ASSERT_TRUE(s.CreateWorkers(Instances("rollout", 2, 4)));
  const std::string lost = s.FindWorker("rollout/1")->plan.node;
  ASSERT_TRUE(s.LoseNode(lost));
  Result<Ids> ids = s.RestartUnit("rollout/1");
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.error().message().find("rollout/1"), std::string::npos) << ids.error().message();
  EXPECT_NE(ids.error().message().find("is not placed"), std::string::npos)
      << ids.error().message();
  EXPECT_TRUE(stopped_.empty());  // never reached the launch
  ASSERT_NE(s.FindWorker("rollout/1"), nullptr);
  EXPECT_NE(s.FindWorker("rollout/1")->phase, WorkerPhase::kReady);
  EXPECT_EQ(s.FindWorker("rollout/0")->phase, WorkerPhase::kReady);
}

TEST_F(NodeLossTest, TheRestartHookCanRefuseAndTheUnitStaysStopped) {
  Scheduler& s = StartOnThree();
  ASSERT_TRUE(s.CreateWorkers(Instances("rollout", 2, 4)));
  const size_t launched = launcher_->launched().size();
  hook_ = Unavailable("GPU 0 still holds 512 MiB of pid 7 (ended) after 30 s");
  Result<Ids> ids = s.RestartUnit("rollout/0");
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.error().message().find("still holds 512 MiB"), std::string::npos);
  EXPECT_EQ(launcher_->launched().size(), launched);
  hook_ = Status::Ok();
  ASSERT_TRUE(s.RestartUnit("rollout/0"));
  EXPECT_EQ(s.FindWorker("rollout/0")->phase, WorkerPhase::kReady);
}

TEST_F(NodeLossTest, RecoveryRestartsTheUnitsOfTheLostWorkers) {
  Scheduler& s = StartOnThree();
  ASSERT_TRUE(s.CreateWorkers(Instances("rollout", 2, 4)));
  std::vector<RecoveryEvent> events;
  Recovery recovery(s, clock_, [&](const RecoveryEvent& e) { events.push_back(e); });
  const std::string lost = s.FindWorker("rollout/1")->plan.node;
  Result<Ids> on_it = s.LoseNode(lost);
  ASSERT_TRUE(on_it);
  Result<bool> handled = recovery.OnNodeLost(*on_it, "lost with node " + lost);
  ASSERT_TRUE(handled) << handled.error().ToString();
  EXPECT_TRUE(*handled);
  ASSERT_TRUE(recovery.NextDue());
  clock_.Advance(seconds(2));
  ASSERT_TRUE(recovery.RunDue().ok());
  EXPECT_EQ(s.FindWorker("rollout/1")->plan.node, "node3");
  ASSERT_GE(events.size(), 3U);
  EXPECT_EQ(events[0].kind, RecoveryEvent::Kind::kFailed);
  EXPECT_EQ(events[0].cause, "lost with node " + lost);
  EXPECT_EQ(events[0].node, lost);
  EXPECT_EQ(events.back().kind, RecoveryEvent::Kind::kRestarted);
  EXPECT_EQ(events.back().node, "node3");
}

TEST_F(NodeLossTest, AFailPolicyLeavesTheRunToEndAndTouchesNothing) {
  Scheduler& s = StartOnThree();
  ASSERT_TRUE(s.CreateWorkers(Instances("rollout", 1, 4)));
  RoleSpec train = Role("train", 1, 4);  // on_failure: fail (the default)
  ASSERT_TRUE(s.CreateWorkers(train));
  Recovery recovery(s, clock_, {});
  const std::string a = s.FindWorker("rollout/0")->plan.node;
  const std::string b = s.FindWorker("train/0")->plan.node;
  ASSERT_TRUE(s.LoseNode(a));
  ASSERT_TRUE(s.LoseNode(b));
  Result<bool> handled = recovery.OnNodeLost({"rollout/0", "train/0"}, "lost");
  ASSERT_TRUE(handled);
  EXPECT_FALSE(*handled);
  EXPECT_FALSE(recovery.NextDue());  // nothing scheduled for rollout either
}

TEST_F(NodeLossTest, ADropPolicyDropsTheInstanceAndKeepsGoingAboveMinReplicas) {
  Scheduler& s = StartOnThree();
  RoleSpec r = Instances("rollout", 2, 4);
  r.on_failure.action = FailurePolicy::Action::kDrop;
  r.on_failure.min_replicas = 1;
  ASSERT_TRUE(s.CreateWorkers(r));
  Recovery recovery(s, clock_, {});
  const std::string lost = s.FindWorker("rollout/1")->plan.node;
  Result<Ids> on_it = s.LoseNode(lost);
  ASSERT_TRUE(on_it);
  Result<bool> handled = recovery.OnNodeLost(*on_it, "lost with node " + lost);
  ASSERT_TRUE(handled);
  EXPECT_TRUE(*handled);
  EXPECT_EQ(s.FindWorker("rollout/1"), nullptr);
  EXPECT_EQ(s.FindWorker("rollout/0")->phase, WorkerPhase::kReady);
}

}  // namespace
}  // namespace berth
