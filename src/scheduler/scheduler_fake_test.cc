// The Scheduler's logic on fakes: a scripted launcher, a scripted probe and a
// fake clock. No process starts and no time passes, so timeouts, grace
// periods, retries and the order of teardown are checked exactly and fast.
// scheduler_test.cc runs the same API against real processes.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "berth/explanation.h"
#include "berth/scheduler.h"
#include "roles/ports.h"
#include "scheduler/scheduler_test_util.h"
#include "testing/fake_clock.h"
#include "testing/fake_launcher.h"
#include "testing/fake_probe.h"

namespace berth {
namespace {

using namespace scheduler;  // NOLINT(google-build-using-namespace): the fixture

TEST_F(SchedulerFakeTest, LaunchesOneBatchWithThePlansEnvironmentAndWaitsForReadiness) {
  Scheduler& s = Start();
  probe_.ready = [&](const ReadinessTarget& t) {
    EXPECT_EQ(t.address, "127.0.0.1");
    EXPECT_EQ(t.path, "/health");
    return clock_.Elapsed() >= seconds(3);
  };
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 2));
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"actor/0", "actor/1"}));
  // Ready after 3 s of probing, 10 ms apart: not a moment longer.
  EXPECT_GE(clock_.Elapsed(), seconds(3));
  EXPECT_LT(clock_.Elapsed(), seconds(3) + milliseconds(20));
  ASSERT_EQ(launcher_->launched().size(), 2U);
  const LaunchSpec& rank1 = launcher_->launched()[1];
  EXPECT_EQ(rank1.id, "actor/1");
  EXPECT_EQ(rank1.argv, (std::vector<std::string>{"/opt/worker", "--serve"}));
  EXPECT_EQ(rank1.log_path, log_dir_.string() + "/actor.1.log");
  EXPECT_EQ(rank1.merged_log_path, log_dir_.string() + "/merged.log");
  // The base environment first, then the plan's variables over it.
  ASSERT_FALSE(rank1.env.empty());
  EXPECT_EQ(rank1.env[0], (std::pair<std::string, std::string>{"PATH", "/usr/bin"}));
  auto var = [&](const std::string& k) {
    for (const auto& kv : rank1.env) {
      if (kv.first == k) return kv.second;
    }
    return std::string("<unset>");
  };
  EXPECT_EQ(var("RANK"), "1");
  EXPECT_EQ(var("WORLD_SIZE"), "2");
  EXPECT_EQ(var("CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kStarted), 2);
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kReady), 2);
  EXPECT_NEAR(events_.back().seconds, 3.0, 0.02);
  for (const Worker& w : s.Workers()) EXPECT_EQ(w.phase, WorkerPhase::kReady);
}

TEST_F(SchedulerFakeTest, StartupTimeoutIsATimeoutAndLeavesNothingBehind) {
  Scheduler& s = Start();
  probe_.ready = [](const ReadinessTarget&) { return false; };
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 3));
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(ids.error().message().find("worker actor/0 was not ready within 30 s (raise "
                                       "startup_timeout of role \"actor\""),
            std::string::npos)
      << ids.error().message();
  EXPECT_GE(clock_.Elapsed(), seconds(30));
  EXPECT_LT(clock_.Elapsed(), seconds(31));
  ASSERT_TRUE(s.last_failure().has_value());
  EXPECT_EQ(s.last_failure()->exit_code, 1);
  // Rolled back: ranks 1 and 2 together, then rank 0; no group, no worker.
  EXPECT_EQ(launcher_->terminations(),
            (std::vector<std::vector<std::string>>{{"actor/1", "actor/2"}, {"actor/0"}}));
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_TRUE(s.Workers().empty());
  EXPECT_TRUE(s.Groups().empty());
  EXPECT_TRUE(s.Roles().empty());
}

TEST_F(SchedulerFakeTest, ExitDuringStartupFailsWithItsCodeAndLogTail) {
  Scheduler& s = Start();
  probe_.ready = [](const ReadinessTarget&) { return false; };
  clock_.At(seconds(2), [&] {
    std::ofstream(log_dir_ / "actor.1.log") << "loading\nCUDA error: out of memory\n";
    ASSERT_TRUE(launcher_->Exit("actor/1", 3));
  });
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 2));
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kWorkerFailed);
  const std::string& msg = ids.error().message();
  EXPECT_NE(msg.find("worker actor/1 exited with code 3 during start-up"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("CUDA error: out of memory"), std::string::npos) << msg;
  ASSERT_TRUE(s.last_failure().has_value());
  EXPECT_EQ(s.last_failure()->worker, "actor/1");
  EXPECT_EQ(s.last_failure()->exit_code, 3);
  EXPECT_EQ(s.last_failure()->log_tail, "    | loading\n    | CUDA error: out of memory\n");
  // Noticed at the first look after the exit, and the rest rolled back.
  EXPECT_LT(clock_.Elapsed(), seconds(2) + milliseconds(20));
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_TRUE(s.Groups().empty());
  // An exit answered by the failed call is not reported again.
  Result<std::vector<Worker>> later = s.WaitExits(milliseconds(100));
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(later->empty());
}

TEST_F(SchedulerFakeTest, AnInstanceReadyThenEndedWhileItsRoleStartsIsAnExitAfterStartUp) {
  Scheduler& s = Start();
  RoleSpec role = Role("rollout", 2);
  role.placement = PlacementMode::kSeparate;
  // rollout/1 is ready at once and ends at 1 s; rollout/0 is ready at 3 s.
  const int port1 = 40001;
  probe_.ready = [&](const ReadinessTarget& t) {
    return t.port == port1 || clock_.Elapsed() >= seconds(3);
  };
  clock_.At(seconds(1), [&] { ASSERT_TRUE(launcher_->Exit("rollout/1", 5)); });
  Result<std::vector<std::string>> ids = s.CreateWorkers(role);
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  EXPECT_GE(clock_.Elapsed(), seconds(3));
  const Worker* w1 = s.FindWorker("rollout/1");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(HttpPort(*w1), port1);
  EXPECT_EQ(w1->phase, WorkerPhase::kFailed);
  EXPECT_EQ(s.FindWorker("rollout/0")->phase, WorkerPhase::kReady);
  EXPECT_TRUE(launcher_->running("rollout/0"));
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kPortConflict), 0);
  // Reported once, by WaitExits, for the role's on_failure to answer.
  Result<std::vector<Worker>> exits = s.WaitExits(milliseconds(0));
  ASSERT_TRUE(exits.has_value());
  ASSERT_EQ(exits->size(), 1U);
  EXPECT_EQ((*exits)[0].plan.id, "rollout/1");
  EXPECT_EQ((*exits)[0].exit_status, 5);
  // GetWorkers still says the role is not whole.
  Result<std::vector<Worker>> got = s.GetWorkers("rollout", seconds(1));
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.error().message().find("worker rollout/1 exited with code 5 after it was ready"),
            std::string::npos)
      << got.error().message();
}

TEST_F(SchedulerFakeTest, APortTakenMeanwhileIsRetriedWithNewPortsUnderANewLaunchId) {
  Scheduler& s = Start();
  probe_.ready = [&](const ReadinessTarget&) { return launcher_->launched().size() > 1; };
  clock_.At(seconds(1), [&] {
    // Someone took actor/0's port; it exits at start-up (address in use).
    probe_.taken.insert(HttpPort(*scheduler_->FindWorker("actor/0")));
    ASSERT_TRUE(launcher_->Exit("actor/0", 1));
  });
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 1));
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  ASSERT_EQ(launcher_->launched().size(), 2U);
  EXPECT_EQ(launcher_->launched()[1].id, "actor/0@2");
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kPortConflict), 1);
  const Worker* w = s.FindWorker("actor/0");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->restarts, 1);
  EXPECT_EQ(w->phase, WorkerPhase::kReady);
  EXPECT_FALSE(probe_.taken.contains(HttpPort(*w)));
  EXPECT_TRUE(launcher_->running("actor/0@2"));
}

TEST_F(SchedulerFakeTest, PortConflictsEndAfterPortAttempts) {
  Scheduler& s = Start([](SchedulerOptions& o) { o.port_attempts = 2; });
  probe_.ready = [](const ReadinessTarget&) { return false; };
  // Every launch loses its port at once.
  clock_.OnSleep([&](Clock::Duration) {
    for (const std::string& id : launcher_->Running()) {
      for (int p = 40000; p < 40010; ++p) probe_.taken.insert(p);
      (void)launcher_->Exit(id, 1);
    }
  });
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 1));
  ASSERT_FALSE(ids.has_value());
  // The last attempt has no retry left: it is the worker's failure.
  EXPECT_EQ(ids.error().code(), ErrorCode::kWorkerFailed) << ids.error().ToString();
  EXPECT_EQ(launcher_->launched().size(), 2U);
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kPortConflict), 1);
  EXPECT_TRUE(s.Groups().empty());
}

TEST_F(SchedulerFakeTest, DeleteStopsForksFirstThenOtherRanksThenRankZero) {
  Scheduler& s = Start([](SchedulerOptions& o) {
    o.expected_roles = {Role("actor", 3), ForkOf("ref", "actor")};
  });
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 3)).has_value());
  ASSERT_TRUE(s.ForkWorkers("ref", "actor").has_value());
  // The fork runs on its target's GPUs.
  EXPECT_EQ(s.FindWorker("ref/2")->plan.gpus, s.FindWorker("actor/2")->plan.gpus);
  ASSERT_TRUE(s.DeleteWorkers("actor").ok());
  EXPECT_EQ(launcher_->terminations(),
            (std::vector<std::vector<std::string>>{
                {"ref/1", "ref/2"}, {"ref/0"}, {"actor/1", "actor/2"}, {"actor/0"}}));
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_TRUE(s.Roles().empty());
  EXPECT_TRUE(s.Groups().empty());
  EXPECT_EQ(CountEvents(SchedulerEvent::Kind::kStopped), 6);
}

TEST_F(SchedulerFakeTest, BeforeStopWaitsAtMostGraceThenTerminates) {
  std::vector<std::string> asked;
  Scheduler& s = Start([&](SchedulerOptions& o) {
    o.before_stop = [&](const std::vector<WorkerPlan>& plans) {
      for (const WorkerPlan& p : plans) asked.push_back(p.id);
      // Rank 1 honours the request after 1 s; rank 0 ignores it.
      clock_.At(clock_.Elapsed() + seconds(1), [&] { (void)launcher_->Exit("actor/1", 0); });
    };
  });
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2)).has_value());
  launcher_->IgnoreSigterm("actor/0");
  const Clock::TimePoint before = clock_.Now();
  ASSERT_TRUE(s.DeleteWorkers().ok());
  EXPECT_EQ(asked, (std::vector<std::string>{"actor/1", "actor/0"}));
  // Rank 1: about 1 s, gone before its grace; rank 0: the grace after the
  // request, then the grace of SIGTERM before SIGKILL.
  const Clock::Duration took = clock_.Now() - before;
  EXPECT_GE(took, seconds(1) + seconds(5) + seconds(5));
  EXPECT_LT(took, seconds(1) + seconds(5) + seconds(5) + milliseconds(50));
  EXPECT_TRUE(launcher_->Running().empty());
}

TEST_F(SchedulerFakeTest, WaitExitsReportsEachExitOnceAndWaitsOnTheClock) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2)).has_value());
  const Clock::TimePoint before = clock_.Now();
  Result<std::vector<Worker>> none = s.WaitExits(seconds(5));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(clock_.Now() - before, seconds(5));

  clock_.At(clock_.Elapsed() + seconds(2), [&] { (void)launcher_->Kill("actor/1", SIGSEGV); });
  Result<std::vector<Worker>> one = s.WaitExits(seconds(10));
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->size(), 1U);
  EXPECT_EQ((*one)[0].plan.id, "actor/1");
  EXPECT_EQ((*one)[0].phase, WorkerPhase::kFailed);
  EXPECT_EQ((*one)[0].exit_status, 128 + SIGSEGV);
  // Returned when it came, not at the end of the timeout.
  EXPECT_LT(clock_.Now() - before, seconds(5) + seconds(2) + milliseconds(20));
  Result<std::vector<Worker>> again = s.WaitExits(milliseconds(1));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->empty());

  // A role whose worker has exited is not ready any more.
  Result<std::vector<Worker>> got = s.GetWorkers("actor", seconds(1));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code(), ErrorCode::kWorkerFailed);
  EXPECT_NE(got.error().message().find("after it was ready"), std::string::npos);
}

TEST_F(SchedulerFakeTest, AOneShotWorkerWithoutReadinessThatFinishesAtOnceHasStarted) {
  Scheduler& s = Start();
  RoleSpec once = Role("once", 1, 0);
  once.readiness = {};
  launcher_->ExitAtSpawn("once/0", 0);
  Result<std::vector<std::string>> ids = s.CreateWorkers(once);
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  // Its exit is WaitExits' to report, once.
  Result<std::vector<Worker>> exits = s.WaitExits(milliseconds(0));
  ASSERT_TRUE(exits.has_value());
  ASSERT_EQ(exits->size(), 1U);
  EXPECT_EQ((*exits)[0].phase, WorkerPhase::kExited);
  // Failing at once is still a failure during start-up.
  RoleSpec bad = Role("bad", 1, 0);
  bad.readiness = {};
  launcher_->ExitAtSpawn("bad/0", 2);
  Result<std::vector<std::string>> failed = s.CreateWorkers(bad);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kWorkerFailed);
}

TEST_F(SchedulerFakeTest, InterruptedWhileWaitingRollsBack) {
  Scheduler& s = Start(
      [&](SchedulerOptions& o) { o.interrupted = [&] { return clock_.Elapsed() >= seconds(2); }; });
  probe_.ready = [](const ReadinessTarget&) { return false; };
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 2));
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(ids.error().message().find("interrupted"), std::string::npos);
  EXPECT_LT(clock_.Elapsed(), seconds(2) + milliseconds(20));
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_TRUE(s.Groups().empty());
}

TEST_F(SchedulerFakeTest, ASpawnFailureReleasesTheGroupsAndTheNameStaysUsable) {
  Scheduler& s = Start();
  launcher_->FailSpawnOf("actor/1", BackendError("worker 'actor/1': cannot execute '/opt/worker'"));
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 2));
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kBackend);
  EXPECT_NE(ids.error().message().find("the workers did not start: worker 'actor/1': cannot "
                                       "execute '/opt/worker'"),
            std::string::npos)
      << ids.error().message();
  EXPECT_TRUE(launcher_->launched().empty());
  EXPECT_TRUE(s.Groups().empty());
  // The Scheduler never reuses a launch id, not even one that did not start.
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2)).has_value());
  EXPECT_EQ(launcher_->launched()[0].id, "actor/0@2");
}

TEST_F(SchedulerFakeTest, APlacementErrorNamesTheRoleOnceAndCarriesTheExplanation) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 1)).has_value());
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("big", 1, /*gpu=*/16));
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kInfeasible);
  EXPECT_EQ(ids.error().message().rfind("create_workers(\"big\"): role \"big\": group \"big\" is "
                                        "not placed (INFEASIBLE): ",
                                        0),
            0U)
      << ids.error().message();
  const Explanation* why = ids.error().explanation();
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(why->group, "big");
  EXPECT_EQ(why->reason_code, ReasonCode::kBundleTooLarge);
  EXPECT_EQ(why->resource, "GPU");
  EXPECT_TRUE(launcher_->launched().size() == 1U);  // only the actor
}

TEST_F(SchedulerFakeTest, StartNeedsALauncher) {
  SchedulerOptions o;
  o.nodes = {Node(1)};
  o.log_dir = log_dir_.string();
  Result<std::unique_ptr<Scheduler>> s = Scheduler::Start(std::move(o), nullptr);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(s.error().message().find("no process launcher"), std::string::npos);
}

}  // namespace
}  // namespace berth
