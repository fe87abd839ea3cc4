// Scheduler::ScaleWorkers on fakes: instances added with the role's
// strategy and started, or explained and nothing left when they do not fit;
// deferred instances as node-sized bundles on nodes of their own; the
// highest removed first in teardown order; forks follow; what cannot be
// scaled says why.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

using Ids = std::vector<std::string>;

RoleSpec Rollout(int replicas, int gpu = 1) {
  RoleSpec r = Role("rollout", replicas, gpu);
  r.placement = PlacementMode::kSeparate;
  return r;
}

class SchedulerScaleTest : public SchedulerFakeTest {};

TEST_F(SchedulerScaleTest, GrowsByInstancesOnFreeGpusAndShrinksFromTheTop) {
  Scheduler& s = Start();  // one node, 8 GPUs
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  const int pid0 = s.FindWorker("rollout/0")->pid;

  Result<Ids> ids = s.ScaleWorkers("rollout", 4);
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_EQ(*ids, (Ids{"rollout/0", "rollout/1", "rollout/2", "rollout/3"}));
  std::set<int> devices;
  for (const std::string& id : *ids) {
    const Worker* w = s.FindWorker(id);
    EXPECT_EQ(w->phase, WorkerPhase::kReady) << id;
    devices.insert(w->plan.gpus.at(0).device);
  }
  EXPECT_EQ(devices.size(), 4U);                    // each instance its own GPU
  EXPECT_EQ(s.FindWorker("rollout/0")->pid, pid0);  // the others untouched
  // A group per instance, as created.
  int groups = 0;
  for (const GroupView& g : s.Groups()) groups += g.name.rfind("rollout/", 0) == 0 ? 1 : 0;
  EXPECT_EQ(groups, 4);

  // Down to 1: rollout/3, then rollout/2... are stopped; their groups go.
  ids = s.ScaleWorkers("rollout", 1);
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_EQ(*ids, (Ids{"rollout/0"}));
  EXPECT_EQ(s.FindWorker("rollout/3"), nullptr);
  EXPECT_TRUE(launcher_->running("rollout/0"));
  EXPECT_FALSE(launcher_->running("rollout/1"));
  groups = 0;
  for (const GroupView& g : s.Groups()) groups += g.name.rfind("rollout/", 0) == 0 ? 1 : 0;
  EXPECT_EQ(groups, 1);
  // And up again, on the freed GPUs.
  ids = s.ScaleWorkers("rollout", 3);
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_EQ(ids->size(), 3U);
  // The same size: nothing to do.
  const size_t launched = launcher_->launched().size();
  ASSERT_TRUE(s.ScaleWorkers("rollout", 3));
  EXPECT_EQ(launcher_->launched().size(), launched);
}

TEST_F(SchedulerScaleTest, BeyondCapacityIsExplainedAndNothingNewStays) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(2, 2)));  // 4 of 8 GPUs
  const size_t launched = launcher_->launched().size();
  Result<Ids> ids = s.ScaleWorkers("rollout", 5);  // 10 GPUs
  ASSERT_FALSE(ids);
  const std::string& m = ids.error().message();
  EXPECT_NE(m.find("scale_workers(\"rollout\", 5)"), std::string::npos) << m;
  EXPECT_NE(m.find("is not placed"), std::string::npos) << m;
  EXPECT_EQ(launcher_->launched().size(), launched);  // nothing started
  EXPECT_EQ(s.FindWorker("rollout/2"), nullptr);
  // The groups of the instances that did fit were released again: 2 more fit.
  ASSERT_TRUE(s.ScaleWorkers("rollout", 4));
}

TEST_F(SchedulerScaleTest, ANewInstanceThatDoesNotComeUpIsRolledBack) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(1)));
  probe_.ready = [](const ReadinessTarget&) { return false; };
  Result<Ids> ids = s.ScaleWorkers("rollout", 2, seconds(5));
  ASSERT_FALSE(ids);
  EXPECT_EQ(s.FindWorker("rollout/1"), nullptr);
  EXPECT_FALSE(launcher_->running("rollout/1"));
  probe_.ready = [](const ReadinessTarget&) { return true; };
  ASSERT_TRUE(s.ScaleWorkers("rollout", 2));
  EXPECT_EQ(s.FindWorker("rollout/1")->phase, WorkerPhase::kReady);
}

TEST_F(SchedulerScaleTest, ForksFollowTheirTargetsInstances) {
  Scheduler& s = Start([](SchedulerOptions& o) { o.expected_roles = {ForkOf("ref", "rollout")}; });
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  RoleSpec ref = ForkOf("ref", "rollout");
  ASSERT_TRUE(s.CreateWorkers(ref));
  ASSERT_TRUE(s.ScaleWorkers("rollout", 3));
  const Worker* fork = s.FindWorker("ref/2");
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(fork->plan.fork_of, "rollout/2");
  EXPECT_EQ(fork->plan.gpus, s.FindWorker("rollout/2")->plan.gpus);
  EXPECT_EQ(fork->phase, WorkerPhase::kReady);
  // Shrinking stops the fork before its target.
  const size_t before = launcher_->terminations().size();
  ASSERT_TRUE(s.ScaleWorkers("rollout", 2));
  EXPECT_EQ(s.FindWorker("ref/2"), nullptr);
  EXPECT_NE(s.FindWorker("ref/1"), nullptr);
  const auto& calls = launcher_->terminations();
  auto stage_of = [&](const std::string& id) {
    for (size_t i = before; i < calls.size(); ++i) {
      if (std::find(calls[i].begin(), calls[i].end(), id) != calls[i].end()) return i;
    }
    return calls.size();
  };
  EXPECT_LT(stage_of("ref/2"), stage_of("rollout/2"));
  EXPECT_LT(stage_of("rollout/2"), calls.size());
}

TEST_F(SchedulerScaleTest, DeferredInstancesGrowAsNodeSizedBundlesOnNodesOfTheirOwn) {
  Scheduler& s = Start([](SchedulerOptions& o) {
    o.nodes.clear();
    for (int i = 1; i <= 4; ++i) {
      NodeSpec n = Node(8);
      n.name = "n" + std::to_string(i);
      o.nodes.push_back(n);
    }
  });
  RoleSpec r = Rollout(1, 16);  // 16 GPUs: two nodes of 8 each
  r.placement = PlacementMode::kDeferred;
  ASSERT_TRUE(s.CreateWorkers(r));
  // nodes_of(i): the nodes of instance i's workers, each with all 8 GPUs.
  auto nodes_of = [&](int instance) {
    std::set<std::string> nodes;
    for (const Worker& w : s.Workers()) {
      if (w.plan.role != "rollout" || w.plan.index != instance) continue;
      EXPECT_EQ(w.plan.gpus.size(), 8U) << w.plan.id;
      EXPECT_EQ(w.phase, WorkerPhase::kReady) << w.plan.id;
      nodes.insert(w.plan.node);
    }
    return nodes;
  };
  const std::set<std::string> first = nodes_of(0);
  ASSERT_EQ(first.size(), 2U);

  Result<Ids> ids = s.ScaleWorkers("rollout", 2);
  ASSERT_TRUE(ids) << ids.error().ToString();
  const std::set<std::string> second = nodes_of(1);
  ASSERT_EQ(second.size(), 2U);
  for (const std::string& n : second) EXPECT_FALSE(first.contains(n)) << n;
  EXPECT_EQ(nodes_of(0), first);  // the first instance untouched

  // A third does not fit in the 4 nodes: explained, nothing new stays.
  Result<Ids> third = s.ScaleWorkers("rollout", 3);
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message().find("rollout/2"), std::string::npos)
      << third.error().message();
  EXPECT_TRUE(nodes_of(2).empty());

  ids = s.ScaleWorkers("rollout", 1);
  ASSERT_TRUE(ids) << ids.error().ToString();
  EXPECT_TRUE(nodes_of(1).empty());
  EXPECT_EQ(nodes_of(0), first);
}

TEST_F(SchedulerScaleTest, WhatCannotBeScaledSaysWhy) {
  Scheduler& s = Start([](SchedulerOptions& o) { o.expected_roles = {ForkOf("ref", "rollout")}; });
  ASSERT_TRUE(s.CreateWorkers(Role("train", 2)));  // shared: one gang
  ASSERT_TRUE(s.CreateWorkers(Rollout(2)));
  ASSERT_TRUE(s.CreateWorkers(ForkOf("ref", "rollout")));
  auto message = [&](const std::string& role, int n) {
    Result<Ids> r = s.ScaleWorkers(role, n);
    return r ? std::string("scaled") : r.error().message();
  };
  EXPECT_NE(message("train", 3).find("one gang"), std::string::npos) << message("train", 3);
  EXPECT_NE(message("ref", 3).find("scale \"rollout\""), std::string::npos) << message("ref", 3);
  EXPECT_NE(message("rollout", 0).find("at least 1"), std::string::npos);
  EXPECT_NE(message("nobody", 1).find("no role"), std::string::npos);
  EXPECT_EQ(s.FindWorker("train/1")->phase, WorkerPhase::kReady);  // nothing stopped
}

}  // namespace
}  // namespace berth
