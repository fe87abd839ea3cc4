// Recovery on fakes: a role's on_failure applied to the unit of a worker
// that failed, on the fake clock — backoff, budget, drop, min_replicas.

#include "berth/recovery.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_test_util.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

RoleSpec Rollout(FailurePolicy::Action action, int replicas = 3) {
  RoleSpec r = Role("rollout", replicas);
  r.placement = PlacementMode::kSeparate;
  r.on_failure.action = action;
  r.on_failure.max_restarts = 2;
  r.on_failure.window_s = 600;
  r.on_failure.backoff_initial_s = 1;
  r.on_failure.backoff_max_s = 60;
  return r;
}

// OnExit's answer: handled by the policy (true), the caller's (false), or
// an error (the policy gave up), as text for the assertions.
std::string Answer(const Result<bool>& r) {
  return !r ? "error: " + r.error().message() : *r ? "handled" : "caller";
}

class RecoveryTest : public SchedulerFakeTest {
 protected:
  Recovery& Make(Scheduler& s) {
    recovery_ = std::make_unique<Recovery>(s, clock_, [this](const RecoveryEvent& e) {
      seen_.push_back(std::string(RecoveryEventName(e.kind)) + " " + e.worker);
    });
    return *recovery_;
  }
  // The exit of `id` (a launcher id) as WaitExits reports it.
  Worker Fail(Scheduler& s, const std::string& id, int code) {
    EXPECT_TRUE(launcher_->Exit(id, code));
    Result<std::vector<Worker>> exits = s.WaitExits(milliseconds(0));
    EXPECT_TRUE(exits && exits->size() == 1);
    return exits && !exits->empty() ? exits->front() : Worker{};
  }

  std::unique_ptr<Recovery> recovery_;
  std::vector<std::string> seen_;
};

TEST_F(RecoveryTest, FailIsLeftToTheCallerAndACleanExitIsNoFailure) {
  Scheduler& s = Start();
  RoleSpec r = Rollout(FailurePolicy::Action::kRestart);
  ASSERT_TRUE(s.CreateWorkers(r));
  r.name = "plain";
  r.on_failure = {};
  ASSERT_TRUE(s.CreateWorkers(r));
  Recovery& rec = Make(s);
  EXPECT_EQ(Answer(rec.OnExit(Fail(s, "plain/0", 3))), "caller");
  EXPECT_EQ(Answer(rec.OnExit(Fail(s, "rollout/0", 0))), "caller");
  EXPECT_FALSE(rec.NextDue());
}

TEST_F(RecoveryTest, RestartWaitsItsBackoffThenRestartsTheInstance) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(FailurePolicy::Action::kRestart)));
  Recovery& rec = Make(s);
  const Clock::TimePoint t0 = clock_.Now();
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "rollout/1", 3))), "handled");
  EXPECT_TRUE(rec.Pending("rollout/1"));
  ASSERT_EQ(rec.NextDue(), t0 + seconds(1));
  // Not yet due.
  ASSERT_TRUE(rec.RunDue().ok());
  EXPECT_FALSE(launcher_->running("rollout/1@2"));
  clock_.SleepFor(seconds(1));
  ASSERT_TRUE(rec.RunDue().ok());
  EXPECT_TRUE(launcher_->running("rollout/1@2"));
  EXPECT_FALSE(rec.Pending("rollout/1"));
  // The second failure waits twice as long.
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "rollout/1@2", 3))), "handled");
  EXPECT_EQ(rec.NextDue(), clock_.Now() + seconds(2));
  EXPECT_EQ(seen_, (std::vector<std::string>{"failed rollout/1", "restart_in rollout/1",
                                             "restarted rollout/1", "failed rollout/1",
                                             "restart_in rollout/1"}));
}

TEST_F(RecoveryTest, RestartsUsedUpEndTheRunNamingTheBudget) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(FailurePolicy::Action::kRestart)));
  Recovery& rec = Make(s);
  std::string id = "rollout/2";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Answer(rec.OnExit(Fail(s, id, 3))), "handled");
    clock_.SleepFor(seconds(60));
    ASSERT_TRUE(rec.RunDue().ok());
    id = "rollout/2@" + std::to_string(i + 2);
    ASSERT_TRUE(launcher_->running(id));
  }
  Result<bool> third = rec.OnExit(Fail(s, id, 3));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), ErrorCode::kWorkerFailed);
  EXPECT_EQ(third.error().message(),
            "worker rollout/2 exited with code 3; its unit rollout/2 restarted 2 time(s) within "
            "600 s (restart.max_restarts 2): giving up");
  EXPECT_EQ(seen_.back(), "given_up rollout/2");
}

TEST_F(RecoveryTest, DropGoesOnWhileMinReplicasAreAlive) {
  Scheduler& s = Start();
  RoleSpec r = Rollout(FailurePolicy::Action::kDrop);
  r.on_failure.min_replicas = 2;
  ASSERT_TRUE(s.CreateWorkers(r));
  Recovery& rec = Make(s);
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "rollout/0", 9))), "handled");
  EXPECT_EQ(s.FindWorker("rollout/0"), nullptr);
  Result<bool> second = rec.OnExit(Fail(s, "rollout/2", 9));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find(
                "1 of 3 instance(s) of role \"rollout\" left, below min_replicas 2: giving up"),
            std::string::npos)
      << second.error().message();
  EXPECT_TRUE(launcher_->running("rollout/1"));
}

TEST_F(RecoveryTest, RestartsUsedUpWithMinReplicasDropTheInstance) {
  Scheduler& s = Start();
  RoleSpec r = Rollout(FailurePolicy::Action::kRestart);
  r.on_failure.max_restarts = 0;
  r.on_failure.min_replicas = 1;
  ASSERT_TRUE(s.CreateWorkers(r));
  Recovery& rec = Make(s);
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "rollout/1", 3))), "handled");
  EXPECT_EQ(s.FindWorker("rollout/1"), nullptr);
  EXPECT_EQ(seen_.back(), "dropped rollout/1");
}

TEST_F(RecoveryTest, AForkFailingRestartsItsTargetsUnit) {
  Scheduler& s = Start();
  RoleSpec train = Role("train", 2);
  train.on_failure.action = FailurePolicy::Action::kRestart;
  ASSERT_TRUE(s.CreateWorkers(train));
  ASSERT_TRUE(s.CreateWorkers(ForkOf("ref", "train")));
  Recovery& rec = Make(s);
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "ref/1", 3))), "handled");
  EXPECT_TRUE(rec.Pending("train/0"));
  // Its gang-mate exiting meanwhile adds nothing.
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "train/0", 1))), "handled");
  clock_.SleepFor(seconds(1));
  ASSERT_TRUE(rec.RunDue().ok());
  for (const char* id : {"train/0@2", "train/1@2", "ref/0@2", "ref/1@2"}) {
    EXPECT_TRUE(launcher_->running(id)) << id;
  }
  EXPECT_FALSE(rec.NextDue());
}

TEST_F(RecoveryTest, ARestartThatFailsIsAnotherFailure) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(FailurePolicy::Action::kRestart)));
  Recovery& rec = Make(s);
  ASSERT_EQ(Answer(rec.OnExit(Fail(s, "rollout/0", 3))), "handled");
  probe_.ready = [&](const ReadinessTarget&) {
    if (launcher_->running("rollout/0@2")) launcher_->Exit("rollout/0@2", 4);
    return false;
  };
  clock_.SleepFor(seconds(1));
  ASSERT_TRUE(rec.RunDue().ok());
  EXPECT_EQ(seen_.back(), "restart_in rollout/0");
  ASSERT_TRUE(rec.NextDue());
  probe_.ready = {};
  clock_.SleepFor(seconds(2));
  ASSERT_TRUE(rec.RunDue().ok());
  EXPECT_TRUE(launcher_->running("rollout/0@3"));
}

TEST_F(RecoveryTest, TendTakesExitsAndRunsRestartsDueByItsDeadline) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Rollout(FailurePolicy::Action::kRestart)));
  RoleSpec plain = Role("plain", 1);
  ASSERT_TRUE(s.CreateWorkers(plain));
  Recovery& rec = Make(s);
  ASSERT_TRUE(launcher_->Exit("rollout/0", 3));
  ASSERT_TRUE(launcher_->Exit("plain/0", 3));
  // Due in 1 s: not by this deadline.
  ASSERT_TRUE(rec.Tend(clock_.Now() + milliseconds(500)).ok());
  EXPECT_TRUE(rec.Pending("rollout/0"));
  EXPECT_EQ(clock_.Elapsed(), seconds(0));
  ASSERT_TRUE(rec.Tend(clock_.Now() + seconds(5)).ok());
  EXPECT_TRUE(launcher_->running("rollout/0@2"));
  EXPECT_LE(clock_.Elapsed(), seconds(1) + milliseconds(20));
  // The role without a policy is left as it was, for get_workers to report.
  EXPECT_EQ(s.FindWorker("plain/0")->phase, WorkerPhase::kFailed);
  Result<std::vector<Worker>> got = s.GetWorkers("plain", seconds(1));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kWorkerFailed);
}

}  // namespace
}  // namespace berth
