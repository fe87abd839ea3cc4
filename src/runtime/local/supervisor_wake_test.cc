// ProcessSupervisor::Wake: a WaitExit waiting with nothing to report returns
// at once when another thread wakes it, or at its start when the wake came
// first; an exit that is there is still reported first.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

class SupervisorWakeTest : public SupervisorTest {};

TEST_F(SupervisorWakeTest, AWaitReturnsWhenWokenFromAnotherThread) {
  const auto start = Clock::now();
  std::thread waker([this] {
    // Not a wait for a condition: most likely the WaitExit below is in its
    // poll by then; if not, the wake comes first, which must end it at once
    // as well (the next test), so the assertions hold either way.
    std::this_thread::sleep_for(milliseconds(50));
    sup_->Wake();
  });
  auto e = sup_->WaitExit(milliseconds(10000));
  waker.join();
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_FALSE(e->has_value());
  EXPECT_LT(ElapsedMs(start), 5000);  // far below the 10 s it would have waited
}

TEST_F(SupervisorWakeTest, AWakeBeforeTheWaitEndsItAtOnceAndOnlyOnce) {
  sup_->Wake();
  sup_->Wake();  // two wakes before one wait: one early return
  auto start = Clock::now();
  auto e = sup_->WaitExit(milliseconds(10000));
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->has_value());
  EXPECT_LT(ElapsedMs(start), 5000);
  // The next wait runs its time.
  start = Clock::now();
  e = sup_->WaitExit(milliseconds(100));
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->has_value());
  EXPECT_GE(ElapsedMs(start), 90);
}

TEST_F(SupervisorWakeTest, AWakeCostsOneEarlyReturnAndLosesNoExit) {
  MustSpawn(Sh("quick/0", "exit 7"));
  sup_->Wake();
  int early = 0;
  std::optional<ExitEvent> exit;
  const auto start = Clock::now();
  while (!exit && ElapsedMs(start) < 5000) {
    auto e = sup_->WaitExit(milliseconds(5000));
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    if (e->has_value()) {
      exit = **e;
    } else {
      ++early;
    }
  }
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->id, "quick/0");
  EXPECT_EQ(exit->exit_code, 7);
  EXPECT_LE(early, 1);
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
