#pragma once
// Shared by the process supervisor's tests (supervisor_*_test.cc): a fixture
// that starts a supervisor and a scratch directory per test, and helpers to
// wait, read logs and find the processes that carry a worker's marker.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "berth/process.h"
#include "runtime/local/proc_scan.h"

namespace berth::runtime::local::supervisor_test {

using Clock = std::chrono::steady_clock;
using runtime::local::ListProcesses;
using runtime::local::ProcInfo;
using runtime::local::ReadEnvVar;
using std::chrono::milliseconds;

inline const std::vector<std::pair<std::string, std::string>> kPathEnv = {
    {"PATH", "/usr/bin:/bin"}};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool WaitFor(const std::function<bool()>& cond, milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return cond();
}

inline bool Running(int pid) {
  auto p = runtime::local::ReadProc(pid);
  return p && !p->zombie();
}

inline int64_t ElapsedMs(Clock::time_point start) {
  return static_cast<int64_t>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth_supervisor_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto sup = ProcessSupervisor::Start();
    ASSERT_TRUE(sup.has_value()) << sup.error().ToString();
    sup_ = std::move(*sup);
  }
  void TearDown() override {
    sup_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  LaunchSpec Sh(const std::string& id, const std::string& script) {
    return LaunchSpec{
        .id = id, .argv = {"/bin/sh", "-c", script}, .env = kPathEnv, .log_path = Log(id)};
  }
  std::string Log(const std::string& id) {
    std::string name = id;
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    return dir_ + "/" + name + ".log";
  }
  int MustSpawn(const LaunchSpec& spec) {
    auto pid = sup_->Spawn(spec);
    EXPECT_TRUE(pid.has_value()) << pid.error().ToString();
    return pid.has_value() ? *pid : -1;
  }
  ExitEvent MustExit(milliseconds limit = milliseconds(5000)) {
    auto e = sup_->WaitExit(limit);
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    if (!e.has_value() || !e->has_value()) {
      ADD_FAILURE() << "no exit event within " << limit.count() << " ms";
      return {};
    }
    return **e;
  }
  bool LogHas(const std::string& id, const std::string& text, milliseconds limit) {
    return WaitFor([&] { return ReadAll(Log(id)).find(text) != std::string::npos; }, limit);
  }
  // Live processes carrying worker `id`'s marker.
  std::vector<ProcInfo> Marked(const std::string& id) {
    std::vector<ProcInfo> out;
    const std::string marker = sup_->token() + "/" + id;
    for (const ProcInfo& p : ListProcesses()) {
      if (p.zombie()) continue;
      auto m = ReadEnvVar(p.pid, kSupervisorTokenVar);
      if (m && *m == marker) out.push_back(p);
    }
    return out;
  }
  // Waits for a marked process of `id` matching `pred` and returns its pid.
  int FindMarked(const std::string& id, const std::function<bool(const ProcInfo&)>& pred) {
    int found = -1;
    WaitFor(
        [&] {
          for (const ProcInfo& p : Marked(id)) {
            if (pred(p)) found = p.pid;
          }
          return found > 0;
        },
        milliseconds(5000));
    return found;
  }

  std::string dir_;
  std::unique_ptr<ProcessSupervisor> sup_;
};

// Live processes carrying any marker of this supervisor.
inline std::vector<ProcInfo> AllMarked(const std::string& token) {
  std::vector<ProcInfo> out;
  for (const ProcInfo& p : ListProcesses()) {
    if (p.zombie()) continue;
    auto m = ReadEnvVar(p.pid, kSupervisorTokenVar);
    if (m && m->starts_with(token + "/")) out.push_back(p);
  }
  return out;
}

}  // namespace berth::runtime::local::supervisor_test
