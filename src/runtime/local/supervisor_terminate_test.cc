// Process supervisor: terminating workers (Terminate, TerminateMany,
// TerminateAll) - SIGTERM then SIGKILL after the grace, and every descendant
// found by its marker: setsid and double-forked grandchildren, leftovers of
// exited workers, newcomers during the termination.

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

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

TEST_F(SupervisorTest, AProcessThatExecsAfterItsSigtermGetsAnother) {
  // The child traps SIGTERM (as a shell's child forked but not yet exec'd
  // does), then becomes another program: that one gets SIGTERM too, long
  // before the grace ends.
  MustSpawn(Sh("exec",
               "(trap 'echo trapped' TERM; echo ready; sleep 1000 & wait; "
               "exec sleep 1001) & wait"));
  ASSERT_TRUE(LogHas("exec", "ready", milliseconds(5000)));
  auto start = Clock::now();
  Status s = sup_->Terminate("exec", milliseconds(5000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 4000);  // no SIGKILL needed
  EXPECT_TRUE(LogHas("exec", "trapped", milliseconds(1000)));
  EXPECT_TRUE(Marked("exec").empty());
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
