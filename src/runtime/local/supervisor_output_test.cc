// Process supervisor: workers' output - each worker's own log and the merged
// log, complete when the exit is reported, with lines never split or mixed.

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
