#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "berth/process.h"
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

// --- SpawnMany ---

// Live processes carrying any marker of this supervisor.
std::vector<ProcInfo> AllMarked(const std::string& token) {
  std::vector<ProcInfo> out;
  for (const ProcInfo& p : ListProcesses()) {
    if (p.zombie()) continue;
    auto m = ReadEnvVar(p.pid, kSupervisorTokenVar);
    if (m && m->starts_with(token + "/")) out.push_back(p);
  }
  return out;
}

TEST_F(SupervisorTest, SpawnManyStartsAllInOrder) {
  const std::string merged = dir_ + "/merged.log";
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 40; ++i) {
    LaunchSpec spec =
        Sh("b/" + std::to_string(i), "echo up $BERTH_SUPERVISOR_TOKEN; exec sleep 100");
    spec.merged_log_path = merged;
    specs.push_back(spec);
  }
  auto pids = sup_->SpawnMany(specs);
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  ASSERT_EQ(pids->size(), specs.size());
  std::set<int> distinct(pids->begin(), pids->end());
  EXPECT_EQ(distinct.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const int pid = (*pids)[i];
    EXPECT_EQ(sup_->pid(specs[i].id), pid) << specs[i].id;
    EXPECT_TRUE(sup_->alive(specs[i].id)) << specs[i].id;
    auto p = runtime::local::ReadProc(pid);
    ASSERT_TRUE(p.has_value()) << specs[i].id;
    EXPECT_EQ(p->pgid, pid) << specs[i].id;  // its own process group
    EXPECT_EQ(p->ppid, sup_->supervisor_pid()) << specs[i].id;
    EXPECT_TRUE(
        LogHas(specs[i].id, "up " + sup_->token() + "/" + specs[i].id + "\n", milliseconds(5000)))
        << specs[i].id;
  }
  // Every worker's line reached the merged log whole, prefixed with its id.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string text = ReadAll(merged);
        return std::count(text.begin(), text.end(), '\n') >= 40;
      },
      milliseconds(5000)));
  const std::string text = ReadAll(merged);
  for (const LaunchSpec& spec : specs) {
    EXPECT_NE(text.find("[" + spec.id + "] up " + sup_->token() + "/" + spec.id + "\n"),
              std::string::npos)
        << spec.id;
  }
  auto start = Clock::now();
  Status s = sup_->TerminateAll(milliseconds(10000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 3000);  // SIGCHLD, not the grace period
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
  EXPECT_EQ(sup_->PollExits().size(), specs.size());
}

TEST_F(SupervisorTest, SpawnManyOfNothingStartsNothing) {
  auto pids = sup_->SpawnMany({});
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  EXPECT_TRUE(pids->empty());
}

TEST_F(SupervisorTest, SpawnManyWithAFailingSpecRollsBackTheBatch) {
  // The good workers start trees that leave their session, so that rolling
  // back has grandchildren to find; the bad one comes late in the batch.
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 30; ++i) {
    specs.push_back(Sh("r/" + std::to_string(i), "setsid sleep 1000 & (sleep 1000 &); sleep 1000"));
  }
  specs[25] = {.id = "r/25", .argv = {"/nonexistent/berth-prog"}, .log_path = Log("r/25")};
  auto r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(r.error().message(),
            "worker 'r/25': cannot execute '/nonexistent/berth-prog': No such file or directory "
            "(ENOENT) (the batch of 30 workers was rolled back: none of them runs)");
  // Already gone when the call returns: nothing of the batch runs.
  std::vector<ProcInfo> left = AllMarked(sup_->token());
  EXPECT_TRUE(left.empty()) << left.size() << " left, e.g. pid " << left[0].pid;
  for (const LaunchSpec& spec : specs) EXPECT_EQ(sup_->pid(spec.id), -1) << spec.id;
  EXPECT_FALSE(sup_->alive("r/0"));
  EXPECT_EQ(sup_->Terminate("r/0", milliseconds(100)).code(), ErrorCode::kNotFound);
  // No exit events for workers that never officially started: a sentinel
  // started after the rollback exits, and its event is the only one (the
  // supervisor reports in order, so any of the batch's would come first).
  ASSERT_TRUE(sup_->Spawn(Sh("sentinel", "exit 0")).has_value());
  std::vector<ExitEvent> events;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (ExitEvent& e : sup_->PollExits()) events.push_back(std::move(e));
        return !events.empty() && events.back().id == "sentinel";
      },
      milliseconds(5000)));
  ASSERT_EQ(events.size(), 1u) << events[0].id;

  // The ids are free again.
  specs[25] = Sh("r/25", "sleep 1000");
  auto pids = sup_->SpawnMany(specs);
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  EXPECT_EQ(pids->size(), 30u);
  EXPECT_TRUE(sup_->TerminateAll(milliseconds(2000)).ok());
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
}

TEST_F(SupervisorTest, SpawnManyReportsTheFirstFailureInSpecOrder) {
  std::vector<LaunchSpec> specs = {
      {.id = "f/0", .argv = {"/bin/true"}},
      {.id = "f/1", .argv = {"/bin/true"}, .cwd = "/nonexistent/dir"},
      {.id = "f/2", .argv = {"/nonexistent/berth-prog"}},
  };
  auto r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'f/1': cannot chdir to '/nonexistent/dir': No such file or directory (ENOENT) "
            "(the batch of 3 workers was rolled back: none of them runs)");
  // A log file that cannot be opened fails the batch before its fork.
  std::filesystem::create_directories(dir_ + "/file");
  std::ofstream(dir_ + "/file/x") << "x";
  specs = {{.id = "g/0", .argv = {"sleep", "100"}, .env = kPathEnv},
           {.id = "g/1", .argv = {"/bin/true"}, .log_path = dir_ + "/file/x/log"}};
  r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_TRUE(r.error().message().starts_with("worker 'g/1': log file '" + dir_ + "/file/x/log'"))
      << r.error().message();
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
  EXPECT_TRUE(sup_->PollExits().empty());
}

TEST_F(SupervisorTest, SpawnManyRefusesDuplicateAndBadSpecsBeforeStartingAny) {
  auto r = sup_->SpawnMany({{.id = "d/0", .argv = {"sleep", "100"}, .env = kPathEnv},
                            {.id = "d/1", .argv = {"sleep", "100"}, .env = kPathEnv},
                            {.id = "d/0", .argv = {"sleep", "100"}, .env = kPathEnv}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'd/0' appears twice in the batch");

  r = sup_->SpawnMany(
      {{.id = "e/0", .argv = {"sleep", "100"}, .env = kPathEnv}, {.id = "e/1", .argv = {}}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker 'e/1': argv is empty; give the program");

  MustSpawn({.id = "taken", .argv = {"sleep", "100"}, .env = kPathEnv});
  r = sup_->SpawnMany({{.id = "t/0", .argv = {"sleep", "100"}, .env = kPathEnv},
                       {.id = "taken", .argv = {"sleep", "100"}, .env = kPathEnv}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'taken' is already in use");

  for (const char* id : {"d/0", "d/1", "e/0", "t/0"}) EXPECT_EQ(sup_->pid(id), -1) << id;
  std::vector<ProcInfo> marked = AllMarked(sup_->token());
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(marked[0].pid, sup_->pid("taken"));
}

TEST_F(SupervisorTest, TeardownOfABatchKillsSetsidGrandchildrenPromptly) {
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 16; ++i) {
    specs.push_back(
        Sh("t/" + std::to_string(i), "setsid sleep 1000 & (setsid sleep 1000 &); sleep 1000"));
  }
  auto pids = sup_->SpawnMany(specs);
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  // Per worker: a session leader below it, and one adopted by the supervisor
  // that is reachable only through its marker.
  const int supervisor = sup_->supervisor_pid();
  for (const LaunchSpec& spec : specs) {
    ASSERT_TRUE(WaitFor(
        [&] {
          int leaders = 0, adopted = 0;
          for (const ProcInfo& p : Marked(spec.id)) {
            if (p.sid != p.pid) continue;
            ++leaders;
            adopted += p.ppid == supervisor;
          }
          return leaders >= 2 && adopted >= 1;
        },
        milliseconds(5000)))
        << spec.id;
  }
  std::vector<ProcInfo> before = AllMarked(sup_->token());
  EXPECT_GE(before.size(), 16u * 4);
  // Half by id (the adopted ones are found by marker only), then the rest.
  std::vector<std::string> half;
  for (int i = 0; i < 8; ++i) half.push_back("t/" + std::to_string(i));
  auto start = Clock::now();
  Status s = sup_->TerminateMany(half, milliseconds(10000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 3000);
  for (const std::string& id : half) EXPECT_TRUE(Marked(id).empty()) << id;
  EXPECT_FALSE(Marked("t/8").empty());  // the others run on
  start = Clock::now();
  s = sup_->TerminateAll(milliseconds(10000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 3000);
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
  for (const ProcInfo& p : before) EXPECT_FALSE(Running(p.pid)) << p.pid;
}

TEST_F(SupervisorTest, NewcomersDuringTerminationAreSignalledToo) {
  // On SIGTERM the worker starts a child that leaves its session, then waits
  // for it: the child must be found by a rescan and stopped as well.
  MustSpawn(Sh("late", "trap 'setsid sleep 1000 & wait' TERM; echo ready; sleep 1000 & wait"));
  ASSERT_TRUE(LogHas("late", "ready", milliseconds(5000)));
  auto start = Clock::now();
  Status s = sup_->Terminate("late", milliseconds(5000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 4000);  // SIGTERM reached the newcomer, no SIGKILL needed
  EXPECT_TRUE(Marked("late").empty());
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
}  // namespace berth
