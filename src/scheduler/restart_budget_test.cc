#include "berth/restart_budget.h"

#include <gtest/gtest.h>

#include <chrono>

namespace berth {
namespace {

using std::chrono::seconds;

double Seconds(std::optional<Clock::Duration> d) {
  return d ? std::chrono::duration<double>(*d).count() : -1;
}

TEST(RestartBudgetTest, BackoffDoublesUpToItsCap) {
  FailurePolicy p;
  p.max_restarts = 10;
  p.backoff_initial_s = 1;
  p.backoff_max_s = 5;
  RestartBudget b(p);
  const Clock::TimePoint t0{};
  EXPECT_EQ(Seconds(b.OnFailure(t0)), 1);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(1))), 2);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(2))), 4);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(3))), 5);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(4))), 5);
  EXPECT_EQ(b.used(), 5);
}

TEST(RestartBudgetTest, MoreThanMaxRestartsWithinTheWindowIsTheEnd) {
  FailurePolicy p;
  p.max_restarts = 2;
  p.window_s = 60;
  p.backoff_initial_s = 1;
  RestartBudget b(p);
  const Clock::TimePoint t0{};
  EXPECT_TRUE(b.OnFailure(t0));
  EXPECT_TRUE(b.OnFailure(t0 + seconds(10)));
  EXPECT_FALSE(b.OnFailure(t0 + seconds(20)));
  EXPECT_FALSE(b.OnFailure(t0 + seconds(59)));
  // The first restart has left the window: one is free again, and the
  // backoff counts only what is still in it.
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(60))), 2);
  EXPECT_EQ(b.used(), 2);
}

TEST(RestartBudgetTest, ZeroRestartsAllowsNone) {
  FailurePolicy p;
  p.max_restarts = 0;
  RestartBudget b(p);
  EXPECT_FALSE(b.OnFailure(Clock::TimePoint{}));
}

TEST(RestartBudgetTest, AQuietWindowResetsTheBackoff) {
  FailurePolicy p;
  p.max_restarts = 100;
  p.window_s = 10;
  p.backoff_initial_s = 1;
  p.backoff_max_s = 60;
  RestartBudget b(p);
  const Clock::TimePoint t0{};
  EXPECT_EQ(Seconds(b.OnFailure(t0)), 1);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(1))), 2);
  EXPECT_EQ(Seconds(b.OnFailure(t0 + seconds(100))), 1);
}

}  // namespace
}  // namespace berth
