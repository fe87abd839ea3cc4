// Process supervisor: its own life - Start (options, file limits, processes
// with threads, exec mode), Shutdown, and the loss of the supervisor process
// taking every worker along.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

TEST_F(SupervisorTest, ShutdownEndsEverythingAndRefusesNewWork) {
  int pid = MustSpawn({.id = "x", .argv = {"sleep", "100"}, .env = kPathEnv});
  const int supervisor = sup_->supervisor_pid();
  Status s = sup_->Shutdown(milliseconds(1000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(Running(pid));
  EXPECT_FALSE(Running(supervisor));
  EXPECT_EQ(sup_->PollExits().size(), 1u);
  auto r = sup_->Spawn({.id = "y", .argv = {"/bin/true"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(r.error().message(), "the process supervisor was shut down");
  EXPECT_TRUE(sup_->Shutdown(milliseconds(1000)).ok());  // idempotent
}

TEST_F(SupervisorTest, KilledSupervisorTakesEverythingAlong) {
  MustSpawn(Sh("orphan", "setsid sleep 1000 & sleep 1000"));
  int worker = sup_->pid("orphan");
  int grandchild = FindMarked("orphan", [](const ProcInfo& p) { return p.sid == p.pid; });
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(kill(sup_->supervisor_pid(), SIGKILL), 0);
  auto e = sup_->WaitExit(milliseconds(5000));
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(e.error().message(), "the process supervisor is gone: supervisor process " +
                                     std::to_string(sup_->supervisor_pid()) +
                                     " killed by signal 9 (SIGKILL)");
  // The worker died with its supervisor (PDEATHSIG); berth killed the
  // marked grandchild.
  EXPECT_TRUE(
      WaitFor([&] { return !Running(worker) && !Running(grandchild); }, milliseconds(3000)));
  EXPECT_EQ(sup_->Spawn({.id = "late", .argv = {"/bin/true"}}).error().code(), ErrorCode::kBackend);
}

// The supervisor raises its own RLIMIT_NOFILE (room for many workers'
// descriptors); workers get berth's.
TEST(ProcessSupervisorStartTest, WorkersGetBerthsFileLimit) {
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit low = saved;
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max > 512) low.rlim_cur = 512;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  char tmpl[] = "/tmp/berth_supervisor_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    auto sup = ProcessSupervisor::Start();
    ASSERT_TRUE(sup.has_value()) << sup.error().ToString();
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
    auto pid = (*sup)->Spawn({.id = "nofile",
                              .argv = {"/bin/sh", "-c", "ulimit -Sn"},
                              .env = kPathEnv,
                              .log_path = dir + "/nofile.log"});
    ASSERT_TRUE(pid.has_value()) << pid.error().ToString();
    auto e = (*sup)->WaitExit(milliseconds(5000));
    ASSERT_TRUE(e.has_value() && e->has_value());
    EXPECT_EQ((*e)->exit_code, 0);
    EXPECT_EQ(ReadAll(dir + "/nofile.log"), std::to_string(low.rlim_cur) + "\n");
    if (low.rlim_cur < saved.rlim_max) {
      std::string limits = ReadAll("/proc/" + std::to_string((*sup)->supervisor_pid()) + "/limits");
      EXPECT_EQ(limits.find("Max open files            512 "), std::string::npos) << limits;
    }
  }
  setrlimit(RLIMIT_NOFILE, &saved);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// With few descriptors (a hard limit of 256), a batch starts fewer children
// at once instead of running out of them.
TEST(ProcessSupervisorStartTest, SpawnManyFitsALowFileLimit) {
  char tmpl[] = "/tmp/berth_supervisor_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    struct rlimit low = {256, 256};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) _exit(10);
    auto sup = ProcessSupervisor::Start();
    if (!sup) _exit(11);
    std::vector<LaunchSpec> specs;
    for (int i = 0; i < 70; ++i) {  // 3 descriptors each in the supervisor: 210
      specs.push_back({.id = "n/" + std::to_string(i),
                       .argv = {"sleep", "100"},
                       .env = kPathEnv,
                       .log_path = dir + "/n" + std::to_string(i) + ".log",
                       .merged_log_path = dir + "/merged.log"});
    }
    auto pids = (*sup)->SpawnMany(specs);
    if (!pids) {
      std::fprintf(stderr, "%s\n", pids.error().ToString().c_str());
      _exit(12);
    }
    if (!(*sup)->TerminateAll(milliseconds(5000)).ok()) _exit(13);
    if ((*sup)->PollExits().size() != specs.size()) _exit(14);
    _exit((*sup)->Shutdown(milliseconds(1000)).ok() ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(ProcessSupervisorStartTest, RefusesAProcessWithThreads) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  });
  auto r = ProcessSupervisor::Start();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  t.join();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
  EXPECT_NE(r.error().message().find("found 2 threads"), std::string::npos) << r.error().message();
}

// A process with threads (a Python interpreter) starts the supervisor as a
// program: it runs workers, reports their exits and takes them along when
// the process that started it goes away.
TEST(ProcessSupervisorStartTest, ExecModeWorksInAProcessWithThreads) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  });
  SupervisorOptions o;
  o.exec_path = BERTH_SUPERVISOR_PROGRAM;
  auto sup = ProcessSupervisor::Start(o);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  t.join();
  ASSERT_TRUE(sup.has_value()) << sup.error().ToString();
  LaunchSpec spec;
  spec.id = "w";
  spec.argv = {"/bin/sh", "-c", "test -z \"$BERTH_SUPERVISOR_EXEC_TOKEN\" && exit 5"};
  auto pid = (*sup)->Spawn(spec);
  ASSERT_TRUE(pid.has_value()) << pid.error().ToString();
  std::optional<ExitEvent> exit;
  for (int i = 0; i < 100 && !exit; ++i) {
    auto e = (*sup)->WaitExit(milliseconds(100));
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    exit = *e;
  }
  ASSERT_TRUE(exit.has_value());
  // 5: the worker did not inherit the token's hand-over variable.
  EXPECT_EQ(exit->exit_code, 5) << exit->description;
  EXPECT_TRUE((*sup)->Shutdown(milliseconds(1000)).ok());
}

TEST(ProcessSupervisorStartTest, ExecModeNamesAMissingProgram) {
  SupervisorOptions o;
  o.exec_path = "/nonexistent/berth-supervisor";
  auto r = ProcessSupervisor::Start(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_NE(r.error().message().find("/nonexistent/berth-supervisor cannot be executed"),
            std::string::npos)
      << r.error().message();
}

TEST(ProcessSupervisorStartTest, ValidatesOptions) {
  SupervisorOptions o;
  o.grace = milliseconds(-1);
  auto r = ProcessSupervisor::Start(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "supervisor grace=-1 ms: must be 0 to 600000 ms");
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
