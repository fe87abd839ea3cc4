#include "berth/process.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/local/proc_scan.h"

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
using runtime::local::ListProcesses;
using runtime::local::ProcInfo;
using runtime::local::ReadEnvVar;
using std::chrono::milliseconds;

const std::vector<std::pair<std::string, std::string>> kPathEnv = {{"PATH", "/usr/bin:/bin"}};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitFor(const std::function<bool()>& cond, milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return cond();
}

bool Running(int pid) {
  auto p = runtime::local::ReadProc(pid);
  return p && !p->zombie();
}

long ElapsedMs(Clock::time_point start) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
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

TEST_F(SupervisorTest, ReportsExitCodeAndWritesBothLogs) {
  LaunchSpec spec = Sh("w/0", "echo hi; exit 3");
  spec.log_path = dir_ + "/logs/nested/w0.log";  // parent dirs are created
  spec.merged_log_path = dir_ + "/all/merged.log";
  int pid = MustSpawn(spec);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(sup_->pid("w/0"), pid);
  ExitEvent e = MustExit();
  EXPECT_EQ(e.id, "w/0");
  EXPECT_EQ(e.pid, pid);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.signal, 0);
  EXPECT_EQ(e.description, "exited with code 3");
  EXPECT_FALSE(e.success());
  EXPECT_FALSE(sup_->alive("w/0"));
  // The event comes after everything the worker wrote is logged.
  EXPECT_EQ(ReadAll(dir_ + "/logs/nested/w0.log"), "hi\n");
  EXPECT_EQ(ReadAll(dir_ + "/all/merged.log"), "[w/0] hi\n");
}

TEST_F(SupervisorTest, ExitIsReportedPromptly) {
  auto start = Clock::now();
  MustSpawn({.id = "quick", .argv = {"sleep", "0.2"}, .env = kPathEnv});
  EXPECT_TRUE(sup_->alive("quick"));
  ExitEvent e = MustExit();
  EXPECT_EQ(e.description, "exited with code 0");
  EXPECT_TRUE(e.success());
  EXPECT_LT(ElapsedMs(start), 1000);
}

TEST_F(SupervisorTest, EnvironmentAndArgvAreByteExact) {
  const std::vector<std::pair<std::string, std::string>> env = {{"A", ",=\"' \n"},
                                                                {"B", "x=y=z"},
                                                                {"EMPTY", ""},
                                                                {"Z", "\t$HOME `x` \\ ü"},
                                                                {"PATH", "/bin"}};
  MustSpawn({.id = "env", .argv = {"/usr/bin/env", "-0"}, .env = env, .log_path = Log("env")});
  EXPECT_EQ(MustExit().exit_code, 0);
  std::vector<std::string> got;
  std::string text = ReadAll(Log("env"));
  for (size_t pos = 0; pos < text.size();) {
    size_t nul = text.find('\0', pos);
    if (nul == std::string::npos) nul = text.size();
    got.push_back(text.substr(pos, nul - pos));
    pos = nul + 1;
  }
  std::vector<std::string> want;
  for (const auto& [k, v] : env) want.push_back(k + "=" + v);
  want.push_back("BERTH_SUPERVISOR_TOKEN=" + sup_->token() + "/env");
  EXPECT_EQ(got, want);

  MustSpawn({.id = "argv",
             .argv = {"/usr/bin/printf", "%s|", "a b", "c,d", "e\"f'g", "", "h\ni", "$X"},
             .log_path = Log("argv")});
  EXPECT_EQ(MustExit().exit_code, 0);
  EXPECT_EQ(ReadAll(Log("argv")), "a b|c,d|e\"f'g||h\ni|$X|");
}

TEST_F(SupervisorTest, RunsInTheGivenDirectoryWithItsOwnProcessGroup) {
  std::filesystem::create_directories(dir_ + "/work");
  LaunchSpec spec = Sh("cwd", "pwd; echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$");
  spec.cwd = dir_ + "/work";
  MustSpawn(spec);
  ExitEvent e = MustExit();
  EXPECT_EQ(ReadAll(Log("cwd")),
            dir_ + "/work\npgid=" + std::to_string(e.pid) + " pid=" + std::to_string(e.pid) + "\n");
}

TEST_F(SupervisorTest, MissingProgramIsAnErrorNamingIt) {
  auto r = sup_->Spawn({.id = "missing", .argv = {"/nonexistent/berth-prog", "x"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(r.error().message(),
            "worker 'missing': cannot execute '/nonexistent/berth-prog': No such file or "
            "directory (ENOENT)");

  r = sup_->Spawn({.id = "missing2", .argv = {"berth-no-such-program"}, .env = kPathEnv});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'missing2': cannot execute 'berth-no-such-program': not found in "
            "PATH=/usr/bin:/bin: No such file or directory (ENOENT)");

  r = sup_->Spawn({.id = "noexec", .argv = {dir_}});  // a directory
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'noexec': cannot execute '" + dir_ + "': Permission denied (EACCES)");

  r = sup_->Spawn({.id = "nodir", .argv = {"/bin/true"}, .cwd = "/nonexistent/dir"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'nodir': cannot chdir to '/nonexistent/dir': No such file or directory "
            "(ENOENT)");

  EXPECT_EQ(sup_->pid("missing"), -1);
  EXPECT_TRUE(sup_->PollExits().empty());
  // A failed id is free for a later, correct spawn.
  MustSpawn({.id = "missing", .argv = {"/bin/true"}});
  EXPECT_EQ(MustExit().exit_code, 0);
}

TEST_F(SupervisorTest, RejectsBadSpecs) {
  struct Case {
    std::string name;
    LaunchSpec spec;
  };
  const std::vector<Case> cases = {
      {"empty id", {.id = "", .argv = {"/bin/true"}}},
      {"space in id", {.id = "a b", .argv = {"/bin/true"}}},
      {"empty argv", {.id = "a", .argv = {}}},
      {"empty program", {.id = "a", .argv = {""}}},
      {"NUL in argv", {.id = "a", .argv = {"/bin/true", std::string("x\0y", 3)}}},
      {"'=' in key", {.id = "a", .argv = {"/bin/true"}, .env = {{"A=B", "c"}}}},
      {"empty key", {.id = "a", .argv = {"/bin/true"}, .env = {{"", "c"}}}},
      {"repeated key", {.id = "a", .argv = {"/bin/true"}, .env = {{"A", "1"}, {"A", "2"}}}},
      {"token key", {.id = "a", .argv = {"/bin/true"}, .env = {{"BERTH_SUPERVISOR_TOKEN", "x"}}}},
      {"NUL in value", {.id = "a", .argv = {"/bin/true"}, .env = {{"A", std::string("\0", 1)}}}},
  };
  for (const Case& c : cases) {
    auto r = sup_->Spawn(c.spec);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec) << c.name << ": " << r.error().message();
  }
  EXPECT_EQ(
      sup_->Spawn({.id = "a", .argv = {"/bin/true"}, .env = {{"A=B", "c"}}}).error().message(),
      "worker 'a': environment key 'A=B' is empty or holds '=' or NUL");

  MustSpawn({.id = "dup", .argv = {"/bin/true"}});
  auto r = sup_->Spawn({.id = "dup", .argv = {"/bin/true"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'dup' is already in use");

  Status s = sup_->Terminate("nope", milliseconds(100));
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "no worker 'nope'");
}

TEST_F(SupervisorTest, TerminateOfCooperativeWorkerReturnsBeforeGrace) {
  int pid = MustSpawn({.id = "sleeper", .argv = {"sleep", "100"}, .env = kPathEnv});
  auto start = Clock::now();
  Status s = sup_->Terminate("sleeper", milliseconds(3000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 1000);
  EXPECT_FALSE(Running(pid));
  // The exit event is already there when Terminate returns.
  std::vector<ExitEvent> exits = sup_->PollExits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].signal, SIGTERM);
  EXPECT_EQ(exits[0].description, "killed by signal 15 (SIGTERM)");
  EXPECT_FALSE(sup_->alive("sleeper"));
}

TEST_F(SupervisorTest, TerminateKillsWorkerIgnoringSigtermAfterGrace) {
  MustSpawn(Sh("stubborn", "trap '' TERM; echo ready; sleep 100"));
  ASSERT_TRUE(LogHas("stubborn", "ready", milliseconds(5000)));
  auto start = Clock::now();
  Status s = sup_->Terminate("stubborn", milliseconds(300));
  long ms = ElapsedMs(start);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(ms, 300);
  EXPECT_LT(ms, 1500);
  ExitEvent e = MustExit(milliseconds(0));
  EXPECT_EQ(e.description, "killed by signal 9 (SIGKILL)");
  EXPECT_TRUE(Marked("stubborn").empty());
}

TEST_F(SupervisorTest, TerminateKillsGrandchildInNewSession) {
  MustSpawn(Sh("tree", "setsid sleep 1000 & sleep 1000"));
  int worker = sup_->pid("tree");
  int grandchild = FindMarked("tree", [](const ProcInfo& p) { return p.sid == p.pid; });
  ASSERT_GT(grandchild, 0);
  EXPECT_NE(runtime::local::ReadProc(grandchild)->pgid, worker);  // left the worker's group
  Status s = sup_->Terminate("tree", milliseconds(2000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(Running(grandchild));
  EXPECT_TRUE(Marked("tree").empty());
}

TEST_F(SupervisorTest, TerminateAfterExitKillsLeftoverDescendants) {
  // The worker leaves a setsid'd grandchild and exits: the grandchild is
  // adopted by the supervisor and found through its marker.
  MustSpawn(Sh("gone", "setsid sleep 1000 & echo started"));
  EXPECT_EQ(MustExit().exit_code, 0);
  int grandchild = FindMarked("gone", [](const ProcInfo& p) { return p.sid == p.pid; });
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(runtime::local::ReadProc(grandchild)->ppid, sup_->supervisor_pid());
  EXPECT_TRUE(sup_->Terminate("gone", milliseconds(2000)).ok());
  EXPECT_FALSE(Running(grandchild));
}

TEST_F(SupervisorTest, DoubleForkedGrandchildIsAdoptedAndKilled) {
  MustSpawn(Sh("dbl", "(sleep 1000 &); sleep 1000"));
  int worker = sup_->pid("dbl");
  const int supervisor = sup_->supervisor_pid();
  int orphan =
      FindMarked("dbl", [&](const ProcInfo& p) { return p.ppid == supervisor && p.pid != worker; });
  ASSERT_GT(orphan, 0);
  EXPECT_TRUE(sup_->TerminateAll(milliseconds(2000)).ok());
  EXPECT_FALSE(Running(orphan));
  EXPECT_FALSE(Running(worker));
}

TEST_F(SupervisorTest, TerminateAllSignalsWorkersTogether) {
  for (int i = 0; i < 3; ++i) {
    MustSpawn(Sh("s" + std::to_string(i), "trap '' TERM; echo ready; sleep 100"));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(LogHas("s" + std::to_string(i), "ready", milliseconds(5000)));
  }
  auto start = Clock::now();
  Status s = sup_->TerminateAll(milliseconds(400));
  long ms = ElapsedMs(start);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(ms, 400);
  EXPECT_LT(ms, 1100);  // one grace, not three
  std::vector<ExitEvent> exits = sup_->PollExits();
  ASSERT_EQ(exits.size(), 3u);
  for (const ExitEvent& e : exits) EXPECT_EQ(e.signal, SIGKILL) << e.id;
}

TEST_F(SupervisorTest, MergedLogNeverSplitsLines) {
  // `head` writes in 4 KiB blocks, so lines reach the pipe cut at arbitrary
  // points; three workers write at once.
  const std::string merged = dir_ + "/merged.log";
  std::map<std::string, std::string> payload;
  for (int i = 0; i < 3; ++i) {
    std::string id = "m" + std::to_string(i);
    payload[id] = std::string(150 + 37 * i, static_cast<char>('a' + i)) + "," + id;
    LaunchSpec spec = Sh(id, "yes '" + payload[id] + "' | head -n 3000");
    spec.merged_log_path = merged;
    MustSpawn(spec);
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(MustExit().exit_code, 0);
  std::map<std::string, int> count;
  std::istringstream in(ReadAll(merged));
  std::string line;
  int bad = 0;
  while (std::getline(in, line)) {
    size_t close = line.find("] ");
    std::string id = close == std::string::npos ? "" : line.substr(1, close - 1);
    if (line[0] != '[' || !payload.count(id) || line.substr(close + 2) != payload[id]) {
      if (++bad < 3) ADD_FAILURE() << "bad line: " << line.substr(0, 80);
      continue;
    }
    ++count[id];
  }
  EXPECT_EQ(bad, 0);
  for (const auto& [id, p] : payload) {
    EXPECT_EQ(count[id], 3000) << id;
    EXPECT_EQ(ReadAll(Log(id)).size(), 3000 * (p.size() + 1)) << id;
  }
}

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

TEST(ProcessSupervisorStartTest, ValidatesOptions) {
  SupervisorOptions o;
  o.grace = milliseconds(-1);
  auto r = ProcessSupervisor::Start(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "supervisor grace=-1 ms: must be 0 to 600000 ms");
}

}  // namespace
}  // namespace berth
