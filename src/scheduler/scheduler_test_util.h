#pragma once
// The Scheduler on fakes (a scripted launcher, probe and clock), shared by
// scheduler_fake_test.cc, scheduler_restart_test.cc and recovery_test.cc.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "berth/scheduler.h"
#include "roles/ports.h"
#include "testing/fake_clock.h"
#include "testing/fake_launcher.h"
#include "testing/fake_probe.h"

namespace berth::scheduler {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeLauncher;
using testing::FakeProbe;

inline NodeSpec Node(int gpus) {
  NodeSpec n{"local", {}, {{"address", "127.0.0.1"}}};
  n.resources.Set(kCpu, Quantity::Whole(16));
  n.resources.Set(kMemory, Quantity::Whole(int64_t{64} << 30));
  n.resources.Set(kGpu, Quantity::Whole(gpus));
  return n;
}

inline RoleSpec Role(std::string name, int replicas, int gpu = 1) {
  RoleSpec r;
  r.name = std::move(name);
  r.replicas = replicas;
  SchedulingSpec s;
  s.cpu = Quantity::Whole(1);
  s.gpu = Quantity::Whole(gpu);
  s.ports = {"http"};
  s.cmd = {"/opt/worker", "--serve"};
  r.tasks = {s};
  r.readiness = {Readiness::Kind::kHttp, "http", "/health"};
  r.startup_timeout_s = 30;
  return r;
}

inline int HttpPort(const Worker& w) {
  for (const auto& [name, port] : w.plan.ports) {
    if (name == "http") return port;
  }
  return -1;
}

inline RoleSpec ForkOf(std::string name, const std::string& target) {
  RoleSpec r = Role(std::move(name), 2, 0);
  r.tasks[0].cpu = Quantity();
  r.colocation = Colocation{target, true};
  r.readiness = {};
  return r;
}

class SchedulerFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_dir_ = std::filesystem::temp_directory_path() /
               ("berth-sched-fake-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(log_dir_);
  }
  void TearDown() override {
    scheduler_.reset();
    std::filesystem::remove_all(log_dir_);
  }

  Scheduler& Start(const std::function<void(SchedulerOptions&)>& tweak = {}) {
    SchedulerOptions o;
    o.nodes = {Node(8)};
    o.log_dir = log_dir_.string();
    o.base_env = std::vector<std::pair<std::string, std::string>>{{"PATH", "/usr/bin"}};
    o.ports = roles::CountingPorts(40000);
    o.grace = seconds(5);
    o.clock = &clock_;
    o.probe = &probe_;
    o.on_event = [this](const SchedulerEvent& e) { events_.push_back(e); };
    if (tweak) tweak(o);
    auto launcher = std::make_unique<FakeLauncher>(clock_);
    launcher_ = launcher.get();
    Result<std::unique_ptr<Scheduler>> s = Scheduler::Start(std::move(o), std::move(launcher));
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    scheduler_ = std::move(s).value();
    return *scheduler_;
  }
  int CountEvents(SchedulerEvent::Kind kind) const {
    return static_cast<int>(std::count_if(events_.begin(), events_.end(),
                                          [&](const SchedulerEvent& e) { return e.kind == kind; }));
  }

  FakeClock clock_;
  FakeProbe probe_;
  FakeLauncher* launcher_ = nullptr;
  std::filesystem::path log_dir_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<SchedulerEvent> events_;
};

}  // namespace berth::scheduler
