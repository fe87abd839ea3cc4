// Reading /proc: a process's state, ids and program name.

#include "runtime/local/proc_scan.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <optional>

namespace berth::runtime::local {
namespace {

TEST(ProcScanTest, ReadsItsOwnEntry) {
  std::optional<ProcInfo> me = ReadProc(getpid());
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->pid, getpid());
  EXPECT_EQ(me->ppid, getppid());
  EXPECT_EQ(me->pgid, getpgrp());
  EXPECT_EQ(me->comm, "berth_tests");
  EXPECT_GT(me->starttime, 0U);
}

TEST(ProcScanTest, ANameWithSpacesAndParenthesesIsReadWhole) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    prctl(PR_SET_NAME, "a) b (c");
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::optional<ProcInfo> p = ReadProc(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->comm, "a) b (c");
  // The fields after the name are read right too.
  EXPECT_EQ(p->ppid, getpid());
  EXPECT_EQ(p->pgid, getpgrp());
}

TEST(ProcScanTest, AGoneProcessIsNothing) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(ReadProc(child).has_value());
}

}  // namespace
}  // namespace berth::runtime::local
