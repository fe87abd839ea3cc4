// Clock::WaitUntil on a fake clock: the condition, the deadline, the pauses.

#include "berth/clock.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace berth {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;

TEST(ClockTest, WaitUntilReturnsAsSoonAsTheConditionHolds) {
  FakeClock clock;
  int asked = 0;
  EXPECT_TRUE(clock.WaitUntil(clock.Now() + milliseconds(1000), milliseconds(100),
                              [&] { return ++asked == 3; }));
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(clock.Elapsed(), milliseconds(200));  // two pauses between three asks
}

TEST(ClockTest, WaitUntilStopsAtTheDeadlineWithoutOversleeping) {
  FakeClock clock;
  int asked = 0;
  EXPECT_FALSE(clock.WaitUntil(clock.Now() + milliseconds(250), milliseconds(100), [&] {
    ++asked;
    return false;
  }));
  // Asked at 0, 100, 200 and 250: the last pause is cut to the deadline.
  EXPECT_EQ(asked, 4);
  EXPECT_EQ(clock.Elapsed(), milliseconds(250));
  ASSERT_EQ(clock.sleeps().size(), 3u);
  EXPECT_EQ(clock.sleeps().back(), milliseconds(50));
}

TEST(ClockTest, ConditionTrueAtTheStartNeverSleeps) {
  FakeClock clock;
  EXPECT_TRUE(clock.WaitUntil(clock.Now(), milliseconds(100), [] { return true; }));
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(ClockTest, SystemClockMovesForward) {
  Clock& clock = Clock::System();
  const Clock::TimePoint before = clock.Now();
  clock.SleepFor(milliseconds(1));
  EXPECT_GE(clock.Now() - before, milliseconds(1));
}

}  // namespace
}  // namespace berth
