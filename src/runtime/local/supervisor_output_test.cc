// Process supervisor: workers' output - each worker's own log and the merged
// log, complete when the exit is reported, with lines never split or mixed.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

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

// Beneath log_root nothing is followed: a link planted at a worker's log, at
// the merged log or in place of a folder on the way fails the spawn naming
// it, the worker never starts, and nothing is written where the link points.
TEST_F(SupervisorTest, ALinkPlantedBeneathTheLogRootFailsTheSpawnAndGetsNothing) {
  namespace fs = std::filesystem;
  const std::string run = dir_ + "/run";
  const std::string outside = dir_ + "/outside";
  fs::create_directories(outside);
  { std::ofstream(outside + "/precious") << "precious\n"; }
  struct Plant {
    std::string at;  // beneath run
    std::string to;
  };
  for (const Plant& p : {Plant{"logs/w.0.log", outside + "/precious"},
                         Plant{"merged.log", outside + "/new.log"}, Plant{"logs", outside}}) {
    SCOPED_TRACE(p.at);
    fs::remove_all(run);
    fs::create_directories(run + "/logs");
    if (p.at == "logs") fs::remove(run + "/logs");
    fs::create_symlink(p.to, run + "/" + p.at);
    LaunchSpec spec = Sh("w/0", "echo through-the-link");
    spec.log_root = run;
    spec.log_path = run + "/logs/w.0.log";
    spec.merged_log_path = run + "/merged.log";
    Result<int> pid = sup_->Spawn(spec);
    ASSERT_FALSE(pid.has_value());
    EXPECT_EQ(pid.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_NE(
        pid.error().message().find(run + "/" + p.at + ": is a symbolic link (to '" + p.to + "')"),
        std::string::npos)
        << pid.error().message();
    EXPECT_TRUE(pid.error().message().starts_with("worker 'w/0': ")) << pid.error().message();
  }
  EXPECT_EQ(ReadAll(outside + "/precious"), "precious\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);

  // Nothing planted: the logs are written, logs/ made private.
  fs::remove_all(run);
  LaunchSpec spec = Sh("w/0", "echo fine");
  spec.log_root = run;
  spec.log_path = run + "/logs/w.0.log";
  spec.merged_log_path = run + "/merged.log";
  MustSpawn(spec);
  EXPECT_EQ(MustExit().exit_code, 0);
  EXPECT_EQ(ReadAll(run + "/logs/w.0.log"), "fine\n");
  EXPECT_EQ(ReadAll(run + "/merged.log"), "[w/0] fine\n");
  EXPECT_EQ(fs::status(run + "/logs").permissions(), fs::perms::owner_all);
}

// Without log_root the folders are the caller's, but a log's own name is
// never followed either.
TEST_F(SupervisorTest, ALinkAtALogsOwnNameIsRefusedWithoutALogRoot) {
  const std::string target = dir_ + "/precious";
  { std::ofstream(target) << "precious\n"; }
  std::filesystem::create_symlink(target, Log("w/1"));
  Result<int> pid = sup_->Spawn(Sh("w/1", "echo through-the-link"));
  ASSERT_FALSE(pid.has_value());
  EXPECT_EQ(pid.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(pid.error().message().find(Log("w/1") + ": is a symbolic link"), std::string::npos)
      << pid.error().message();
  EXPECT_EQ(ReadAll(target), "precious\n");
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
