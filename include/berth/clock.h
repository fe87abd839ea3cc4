#pragma once
// Time as a seam: what reads the time or waits takes a Clock, so that its
// logic can be tested on a fake clock (testing/fake_clock.h), fast and
// deterministic, and runs on Clock::System() otherwise.

#include <chrono>
#include <functional>

namespace berth {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;

  // A monotonic time.
  virtual TimePoint Now() const = 0;
  // Returns after `d` has passed on this clock.
  virtual void SleepFor(Duration d) = 0;

  // Asks `done` until it says true or `deadline` passes, pausing `step`
  // between two asks (less when the deadline is nearer). Returns done()'s
  // last answer: true when the condition came, false at the deadline.
  bool WaitUntil(TimePoint deadline, Duration step, const std::function<bool()>& done);

  // The steady clock and real sleeps. It has no state.
  static Clock& System();
};

}  // namespace berth
