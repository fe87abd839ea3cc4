// The Scheduler against real processes (the demo worker): create, get,
// delete, fork; every error it promises, and that a failing call leaves
// nothing behind.

#include "berth/scheduler.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "berth/process.h"
#include "roles/ports.h"

namespace berth {
namespace {

using std::chrono::milliseconds;

bool Alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Alive() of a child reaped by the supervisor turns false once it is gone.
bool GoneSoon(int pid) {
  for (int i = 0; i < 100 && Alive(pid); ++i) usleep(20000);
  return !Alive(pid);
}

NodeSpec Node(int gpus) {
  NodeSpec n{"local", {}, {{"address", "127.0.0.1"}}};
  n.resources.Set(kCpu, Quantity::Whole(16));
  n.resources.Set(kMemory, Quantity::Whole(int64_t{64} << 30));
  if (gpus > 0) n.resources.Set(kGpu, Quantity::Whole(gpus));
  return n;
}

SchedulingSpec Demo(std::vector<std::string> extra = {}) {
  SchedulingSpec s;
  s.cpu = Quantity::Whole(1);
  s.ports = {"http"};
  s.cmd = {BERTH_DEMO_WORKER};
  for (std::string& a : extra) s.cmd.push_back(std::move(a));
  return s;
}

RoleSpec Role(std::string name, int replicas, SchedulingSpec spec, int gpu = 0) {
  RoleSpec r;
  r.name = std::move(name);
  r.replicas = replicas;
  spec.gpu = Quantity::Whole(gpu);
  r.tasks = {std::move(spec)};
  r.readiness = {Readiness::Kind::kHttp, "http", "/health"};
  r.startup_timeout_s = 10;
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth-sched-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    scheduler_.reset();
    std::filesystem::remove_all(dir_);
  }
  SchedulerOptions Options(int gpus = 4) {
    SchedulerOptions o;
    o.nodes = {Node(gpus)};
    o.log_dir = dir_.string() + "/logs";
    o.grace = milliseconds(2000);
    o.on_event = [this](const SchedulerEvent& e) { events_.push_back(e); };
    return o;
  }
  Scheduler& Start(SchedulerOptions o) {
    Result<std::unique_ptr<Scheduler>> s = Scheduler::Start(std::move(o));
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    scheduler_ = std::move(s).value();
    return *scheduler_;
  }
  Scheduler& Start() { return Start(Options()); }
  std::vector<int> Pids() {
    std::vector<int> pids;
    for (const Worker& w : scheduler_->Workers()) pids.push_back(w.pid);
    return pids;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<SchedulerEvent> events_;
};

TEST_F(SchedulerTest, CreateGetDelete) {
  Scheduler& s = Start();
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("actor", 2, Demo(), 1));
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"actor/0", "actor/1"}));
  Result<std::vector<Worker>> ws = s.GetWorkers("actor", milliseconds(5000));
  ASSERT_TRUE(ws.has_value()) << ws.error().ToString();
  ASSERT_EQ(ws->size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const Worker& w = (*ws)[i];
    EXPECT_EQ(w.phase, WorkerPhase::kReady);
    EXPECT_TRUE(Alive(w.pid));
    ASSERT_EQ(w.plan.gpus.size(), 1u);
    EXPECT_EQ(w.plan.gpus[0].device, i);
  }
  ASSERT_EQ(s.Groups().size(), 1u);
  EXPECT_EQ(s.Groups()[0].name, "actor");
  const std::vector<int> pids = Pids();
  ASSERT_TRUE(s.DeleteWorkers("actor").ok());
  for (int pid : pids) EXPECT_TRUE(GoneSoon(pid)) << pid;
  EXPECT_TRUE(s.Groups().empty());
  EXPECT_TRUE(s.Roles().empty());
  EXPECT_EQ(s.GetWorkers("actor", milliseconds(10)).error().code(), ErrorCode::kNotFound);
}

TEST_F(SchedulerTest, BadJobsAreErrorsNamingTheRole) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2, Demo())).has_value());

  Result<std::vector<std::string>> dup = s.CreateWorkers(Role("actor", 1, Demo()));
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(dup.error().message().find("role \"actor\" already has workers"), std::string::npos)
      << dup.error().message();

  Result<std::vector<std::string>> zero = s.CreateWorkers(Role("zero", 0, Demo()));
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(zero.error().message().find("role \"zero\".replicas"), std::string::npos)
      << zero.error().message();

  RoleSpec three = Role("three", 3, Demo());
  three.tasks.push_back(Demo());  // 2 specs for 3 replicas
  Result<std::vector<std::string>> count = s.CreateWorkers(three);
  ASSERT_FALSE(count.has_value());
  EXPECT_EQ(count.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(count.error().message().find("role \"three\""), std::string::npos)
      << count.error().message();

  RoleSpec orphan = Role("ref", 2, Demo());
  orphan.colocation = Colocation{"critic", true};
  Result<std::vector<std::string>> missing = s.CreateWorkers(orphan);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("\"critic\" has no workers"), std::string::npos)
      << missing.error().message();

  RoleSpec mismatch = Role("ref", 3, Demo());
  mismatch.colocation = Colocation{"actor", true};
  Result<std::vector<std::string>> mm = s.CreateWorkers(mismatch);
  ASSERT_FALSE(mm.has_value());
  EXPECT_EQ(mm.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(mm.error().message().find("Replica count mismatch"), std::string::npos)
      << mm.error().message();

  Result<std::vector<std::string>> big = s.CreateWorkers(Role("big", 1, Demo(), 8));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kInfeasible);
  EXPECT_NE(big.error().message().find("role \"big\""), std::string::npos) << big.error().message();

  // None of the failed calls left anything.
  EXPECT_EQ(s.Roles(), std::vector<std::string>{"actor"});
  EXPECT_EQ(s.Workers().size(), 2u);
  EXPECT_EQ(s.Groups().size(), 1u);
}

TEST_F(SchedulerTest, ExitDuringStartupIsReportedAndRolledBack) {
  Scheduler& s = Start();
  // Worker 0 is healthy, worker 1 dies at start: the whole role goes.
  RoleSpec r = Role("mixed", 2, Demo());
  SchedulingSpec bad = Demo();
  bad.cmd = {"/bin/sh", "-c", "echo boom-at-start; exit 7"};
  r.tasks = {Demo(), bad};
  Result<std::vector<std::string>> ids = s.CreateWorkers(r);
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kWorkerFailed);
  EXPECT_NE(ids.error().message().find("worker mixed/1 exited with code 7 during start-up"),
            std::string::npos)
      << ids.error().message();
  EXPECT_NE(ids.error().message().find("boom-at-start"), std::string::npos);
  ASSERT_TRUE(s.last_failure().has_value());
  EXPECT_EQ(s.last_failure()->worker, "mixed/1");
  EXPECT_EQ(s.last_failure()->exit_code, 7);
  EXPECT_TRUE(s.Workers().empty());
  EXPECT_TRUE(s.Groups().empty());
  EXPECT_TRUE(s.Roles().empty());
  int started = 0;
  for (const SchedulerEvent& e : events_) {
    if (e.kind == SchedulerEvent::Kind::kStarted && e.worker == "mixed/0") ++started;
  }
  EXPECT_EQ(started, 1);

  // The same name works again once fixed (the supervisor's ids are fresh).
  r.tasks = {Demo()};
  Result<std::vector<std::string>> again = s.CreateWorkers(r);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(s.Workers().size(), 2u);
}

TEST_F(SchedulerTest, ReadinessTimeoutIsReportedAndRolledBack) {
  Scheduler& s = Start();
  RoleSpec slow = Role("slow", 1, Demo({"--startup-delay", "30"}));
  slow.startup_timeout_s = 0.5;
  Result<std::vector<std::string>> ids = s.CreateWorkers(slow);
  ASSERT_FALSE(ids.has_value());
  EXPECT_EQ(ids.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(ids.error().message().find("worker slow/0 was not ready within 0.5 s"),
            std::string::npos)
      << ids.error().message();
  EXPECT_NE(ids.error().message().find("startup_timeout"), std::string::npos);
  EXPECT_TRUE(s.Workers().empty());
  EXPECT_TRUE(s.Groups().empty());
}

TEST_F(SchedulerTest, GetWorkersReportsAWorkerThatExited) {
  Scheduler& s = Start();
  ASSERT_TRUE(
      s.CreateWorkers(Role("w", 1, Demo({"--exit-after", "0.2", "--exit-code", "5"}))).has_value());
  // Gone before get_workers asks.
  ASSERT_EQ(s.Workers().size(), 1u);
  ASSERT_TRUE(GoneSoon(s.Workers()[0].pid));
  Result<std::vector<Worker>> ws = s.GetWorkers("w", milliseconds(2000));
  ASSERT_FALSE(ws.has_value());
  EXPECT_EQ(ws.error().code(), ErrorCode::kWorkerFailed);
  EXPECT_NE(ws.error().message().find("exited with code 5"), std::string::npos)
      << ws.error().message();
  ASSERT_TRUE(s.last_failure().has_value());
  EXPECT_EQ(s.last_failure()->exit_code, 5);
}

TEST_F(SchedulerTest, PortTakenMeanwhileIsRetriedWithNewPorts) {
  // A port that is free when handed out and taken before the worker binds
  // it: the source gives a port this test then holds.
  int held = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ASSERT_EQ(bind(held, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(held, 1), 0);
  socklen_t len = sizeof sa;
  getsockname(held, reinterpret_cast<sockaddr*>(&sa), &len);
  const int taken = ntohs(sa.sin_port);
  PortSource fresh = roles::LocalFreePorts();
  bool first = true;
  SchedulerOptions o = Options();
  o.ports = [&](const std::string& node) -> Result<int> {
    if (first) {
      first = false;
      return taken;
    }
    return fresh(node);
  };
  Scheduler& s = Start(std::move(o));
  Result<std::vector<std::string>> ids = s.CreateWorkers(Role("w", 1, Demo()));
  ::close(held);
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  std::vector<Worker> ws = s.Workers();
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].restarts, 1);
  EXPECT_NE(ws[0].plan.ports[0].second, taken);
  bool reported = false;
  for (const SchedulerEvent& e : events_) {
    reported |= e.kind == SchedulerEvent::Kind::kPortConflict &&
                e.detail == "http " + std::to_string(taken);
  }
  EXPECT_TRUE(reported);
}

TEST_F(SchedulerTest, ForkSharesTheTargetsNodeAndDevicesAndStopsFirst) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2, Demo(), 2)).has_value());
  Result<std::vector<std::string>> ids = s.ForkWorkers("proxy", "actor");
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"proxy/0", "proxy/1"}));
  Result<std::vector<Worker>> actor = s.GetWorkers("actor", milliseconds(5000));
  Result<std::vector<Worker>> proxy = s.GetWorkers("proxy", milliseconds(5000));
  ASSERT_TRUE(actor.has_value() && proxy.has_value());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ((*proxy)[i].plan.node, (*actor)[i].plan.node);
    EXPECT_EQ((*proxy)[i].plan.gpus, (*actor)[i].plan.gpus);
    EXPECT_EQ((*proxy)[i].plan.fork_of, "actor/" + std::to_string(i));
    EXPECT_NE((*proxy)[i].plan.ports, (*actor)[i].plan.ports);
  }
  EXPECT_EQ(s.Groups().size(), 1u);  // the fork adds no group
  events_.clear();
  ASSERT_TRUE(s.DeleteWorkers("actor").ok());  // takes its forks with it, first
  std::vector<std::string> stopped;
  for (const SchedulerEvent& e : events_) {
    if (e.kind == SchedulerEvent::Kind::kStopped) stopped.push_back(e.worker);
  }
  EXPECT_EQ(stopped, (std::vector<std::string>{"proxy/1", "proxy/0", "actor/1", "actor/0"}));
  EXPECT_TRUE(s.Roles().empty());
}

TEST_F(SchedulerTest, ForkResourcesNeedAReservationInTheTarget) {
  RoleSpec ref = Role("ref", 1, Demo());
  ref.colocation = Colocation{"actor", true};
  ref.tasks[0].mem_gib = Quantity::Whole(1);
  {
    Scheduler& s = Start();
    ASSERT_TRUE(s.CreateWorkers(Role("actor", 1, Demo(), 1)).has_value());
    Result<std::vector<std::string>> ids = s.CreateWorkers(ref);
    ASSERT_FALSE(ids.has_value());
    EXPECT_EQ(ids.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_NE(ids.error().message().find("a placed bundle cannot grow"), std::string::npos)
        << ids.error().message();
  }
  // Declared ahead, the target's bundle is placed with room for it.
  SchedulerOptions o = Options();
  o.expected_roles = {ref};
  Scheduler& s = Start(std::move(o));
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 1, Demo(), 1)).has_value());
  const Quantity mem = s.Groups()[0].bundles[0].Get(kMemory);
  EXPECT_EQ(mem, Quantity::Whole(int64_t{1} << 30));
  Result<std::vector<std::string>> ids = s.CreateWorkers(ref);
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
}

TEST_F(SchedulerTest, AliasReturnsTheTargetsWorkers) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 2, Demo())).has_value());
  RoleSpec alias;
  alias.name = "critic";
  alias.replicas = 2;
  alias.colocation = Colocation{"actor", false};
  Result<std::vector<std::string>> ids = s.CreateWorkers(alias);
  ASSERT_TRUE(ids.has_value()) << ids.error().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"actor/0", "actor/1"}));
  Result<std::vector<Worker>> ws = s.GetWorkers("critic", milliseconds(5000));
  ASSERT_TRUE(ws.has_value());
  EXPECT_EQ((*ws)[1].plan.id, "actor/1");
  ASSERT_TRUE(s.DeleteWorkers("critic").ok());  // only the name goes
  EXPECT_EQ(s.Workers().size(), 2u);
}

TEST_F(SchedulerTest, DeleteAllStopsColocatedRolesFirstAndRankZeroLast) {
  Scheduler& s = Start();
  ASSERT_TRUE(s.CreateWorkers(Role("actor", 3, Demo(), 1)).has_value());
  ASSERT_TRUE(s.CreateWorkers(Role("rollout", 1, Demo(), 1)).has_value());
  ASSERT_TRUE(s.ForkWorkers("ref", "actor").has_value());
  const std::vector<int> pids = Pids();
  events_.clear();
  ASSERT_TRUE(s.DeleteWorkers().ok());
  std::vector<std::string> stopped;
  for (const SchedulerEvent& e : events_) {
    if (e.kind == SchedulerEvent::Kind::kStopped) stopped.push_back(e.worker);
  }
  // ref and actor stop their others together, then rank 0.
  ASSERT_EQ(stopped.size(), 7u);
  EXPECT_EQ(stopped[2], "ref/0");
  EXPECT_EQ(stopped[3], "rollout/0");
  EXPECT_EQ(stopped[6], "actor/0");
  for (int pid : pids) EXPECT_TRUE(GoneSoon(pid)) << pid;
  EXPECT_TRUE(s.Groups().empty());
}

}  // namespace
}  // namespace berth
