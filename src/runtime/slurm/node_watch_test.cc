// Noticing a lost node through the watch step: the srun argv for plain and
// heterogeneous jobs, the silence arithmetic on given times, the message
// (the cause first, never an exit code), and the watch itself reading a
// fake srun (a script on PATH) whose line for one node stops.

#include "runtime/slurm/node_watch.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace berth::runtime::slurm {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using TimePoint = NodeSilence::TimePoint;

TEST(NodeWatchTest, StepArgvCoversEveryNodeWithOneTask) {
  const std::vector<std::string> plain = WatchStepArgv("12", {}, {"node1", "node3"});
  ASSERT_GE(plain.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(plain.begin(), plain.begin() + 5),
            (std::vector<std::string>{"srun", "--jobid=12", "--nodes=2", "--ntasks-per-node=1",
                                      "--nodelist=node1,node3"}));
  EXPECT_NE(std::find(plain.begin(), plain.end(), "--overlap"), plain.end());
  EXPECT_EQ(plain[plain.size() - 3], "/bin/sh");
  EXPECT_NE(plain.back().find("$SLURMD_NODENAME"), std::string::npos);
  // A heterogeneous job: every component, each its one node and task.
  const std::vector<std::string> het = WatchStepArgv("12", {0, 1, 2}, {"a", "b", "c"});
  EXPECT_EQ(het[2], "--het-group=0,1,2");
  EXPECT_EQ(std::count_if(het.begin(), het.end(),
                          [](const std::string& a) { return a.rfind("--nodes", 0) == 0; }),
            0);
  EXPECT_EQ(WatchStepArgv("12", {0}, {"a"})[2], "--het-group=0");
  // The nodes left after one was lost: their components only.
  EXPECT_EQ(WatchStepArgv("12", {0, 2}, {"a", "c"})[2], "--het-group=0,2");
}

TEST(NodeWatchTest, SilenceCountsFromTheLastLineOfEachNode) {
  NodeSilence s({"node1", "node2", "node3"}, milliseconds(5000));
  const TimePoint t0{};
  EXPECT_FALSE(s.heard_any());
  s.Heard("node1", t0);
  s.Heard("node2", t0);
  s.Heard("elsewhere", t0);  // not watched: ignored
  s.Heard("node1", t0 + milliseconds(4000));
  EXPECT_TRUE(s.Silent(t0 + milliseconds(5000)).empty());
  // node2 silent for 6 s; node1 for 2 s; node3 never heard: not judged.
  const auto silent = s.Silent(t0 + milliseconds(6000));
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].first, "node2");
  EXPECT_EQ(silent[0].second, milliseconds(6000));
  EXPECT_EQ(s.last_heard("node1"), t0 + milliseconds(4000));
  EXPECT_FALSE(s.last_heard("node3").has_value());
}

TEST(NodeWatchTest, ALineSayingSlurmdIsGoneIsNoAnswer) {
  NodeSilence s({"node1", "node2"}, milliseconds(5000));
  const TimePoint t0{};
  s.Heard("node1", t0);
  s.Heard("node2", t0);
  // node2's task runs on, but its slurmd does not answer.
  for (int i = 1; i <= 6; ++i) {
    s.Heard("node1", t0 + milliseconds(1000 * i));
    s.Heard("node2 slurmd", t0 + milliseconds(1000 * i));
  }
  EXPECT_TRUE(s.slurmd_gone("node2"));
  EXPECT_FALSE(s.slurmd_gone("node1"));
  const auto silent = s.Silent(t0 + milliseconds(6000));
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].first, "node2");
  // A slurmd that answers again clears it.
  s.Heard("node2", t0 + milliseconds(7000));
  EXPECT_FALSE(s.slurmd_gone("node2"));
  EXPECT_TRUE(s.Silent(t0 + milliseconds(7000)).empty());
  // A node whose first line already says so is judged too.
  NodeSilence late({"node3"}, milliseconds(5000));
  late.Heard("node3 slurmd", t0);
  EXPECT_EQ(late.Silent(t0 + milliseconds(6000)).size(), 1u);
  // Anything else after the name is not ours: ignored as no answer either.
  late.Heard("node3 something", t0 + milliseconds(6000));
  EXPECT_EQ(late.Silent(t0 + milliseconds(6000)).size(), 1u);
}

TEST(NodeWatchTest, TheMessageNamesTheNodeTheCauseAndTheWorkers) {
  const std::string text =
      LostNodeText("node2", milliseconds(5230), false, "mix", "rollout/0, rollout/1");
  EXPECT_EQ(text.rfind("node node2 stopped answering", 0), 0u) << text;
  EXPECT_NE(text.find("silent for 5.2 s"), std::string::npos) << text;
  EXPECT_NE(text.find("crashed"), std::string::npos);
  EXPECT_NE(text.find("Slurm still calls it mix"), std::string::npos);
  EXPECT_NE(text.find("workers lost with it: rollout/0, rollout/1"), std::string::npos);
  EXPECT_EQ(text.find("exited with code"), std::string::npos);
  EXPECT_NE(LostNodeText("n", milliseconds(1), false, "idle", "").find("lost with it: none"),
            std::string::npos);
  // Slurm said it first: its word, no silence.
  EXPECT_EQ(LostNodeText("node2", milliseconds(0), false, "down: set by test", "w/1"),
            "node node2 is lost: Slurm calls it down: set by test; workers lost with it: w/1");
  // Its slurmd gone, its task still running: said so.
  const std::string slurmd = LostNodeText("node2", milliseconds(5230), true, "mix", "w/1");
  EXPECT_NE(slurmd.find("node node2 stopped answering: its slurmd has not answered for 5.2 s"),
            std::string::npos)
      << slurmd;
}

// A fake srun on PATH: prints node1 and node2 every 50 ms, node2 only while
// the file `dir/node2` exists.
class NodeWatchProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-node-watch-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    std::ofstream(dir_ + "/srun") << "#!/bin/sh\necho \"$@\" > " << dir_
                                  << "/argv\nwhile :; do echo node1; [ -e " << dir_
                                  << "/node2 ] && echo node2; sleep 0.05; done\n";
    fs::permissions(dir_ + "/srun", fs::perms::owner_all);
    std::ofstream(dir_ + "/node2") << "";
    const char* path = std::getenv("PATH");
    old_path_ = path != nullptr ? path : "";
    ::setenv("PATH", (dir_ + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override {
    ::setenv("PATH", old_path_.c_str(), 1);
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::string old_path_;
};

TEST_F(NodeWatchProcessTest, ANodeWhoseLineStopsIsSilentAndOnlyIt) {
  Result<std::unique_ptr<NodeWatch>> w =
      NodeWatch::Start("12", {}, {"node1", "node2"}, milliseconds(300));
  ASSERT_TRUE(w) << w.error().message();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(10);
  while (!(*w)->HeardAfter("node2", start) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE((*w)->HeardAfter("node2", start));
  EXPECT_TRUE((*w)->Silent().empty());
  EXPECT_EQ((*w)->ended(), "");
  fs::remove(dir_ + "/node2");  // node2 dies
  std::vector<std::pair<std::string, milliseconds>> silent;
  while (silent.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
    silent = (*w)->Silent();
  }
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].first, "node2");
  EXPECT_GT(silent[0].second, milliseconds(300));
  w->reset();  // kills the fake srun and joins its reader: no hang
}

TEST_F(NodeWatchProcessTest, AnSrunThatEndsSaysWhyAndSilenceThenCountsForNothing) {
  std::ofstream(dir_ + "/srun") << "#!/bin/sh\necho node1\necho 'srun: error: no such job' >&2\n";
  Result<std::unique_ptr<NodeWatch>> w = NodeWatch::Start("12", {}, {"node1"}, milliseconds(100));
  ASSERT_TRUE(w) << w.error().message();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*w)->ended().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ((*w)->ended(), "srun: error: no such job");
  std::this_thread::sleep_for(milliseconds(200));  // past the silence limit
  EXPECT_TRUE((*w)->Silent().empty());
}

}  // namespace
}  // namespace berth::runtime::slurm
