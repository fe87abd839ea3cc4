#pragma once
// A Clock for tests: time stands still until something sleeps on it, and a
// sleep returns at once, having moved the time forward by exactly its length.
// Tests of waiting logic run in microseconds and see every pause it takes.

#include <chrono>
#include <functional>
#include <vector>

#include "berth/clock.h"

namespace berth::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void SleepFor(Duration d) override {
    sleeps_.push_back(d);
    if (on_sleep_) on_sleep_(d);
    now_ += d;
  }

  // Moves the time without a sleep (as if the code under test were slow).
  void Advance(Duration d) { now_ += d; }
  // How long since the fake clock was made.
  Duration Elapsed() const { return now_ - TimePoint(); }
  const std::vector<Duration>& sleeps() const { return sleeps_; }
  // Called at each sleep, before the time moves. Replaces an earlier one.
  void OnSleep(std::function<void(Duration)> f) { on_sleep_ = std::move(f); }
  // Runs `f` once, in the first sleep that reaches `at` (time since the fake
  // clock was made): how a test scripts "at 3 s, worker 1 exits". Replaces
  // an earlier OnSleep.
  void At(Duration at, std::function<void()> f) {
    OnSleep([this, at, f = std::move(f), done = false](Duration d) mutable {
      if (!done && Elapsed() + d >= at) {
        done = true;
        f();
      }
    });
  }

 private:
  TimePoint now_{};
  std::vector<Duration> sleeps_;
  std::function<void(Duration)> on_sleep_;
};

}  // namespace berth::testing
