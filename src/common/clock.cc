#include "berth/clock.h"

#include <algorithm>
#include <thread>

namespace berth {
namespace {

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void SleepFor(Duration d) override { std::this_thread::sleep_for(d); }
};

}  // namespace

bool Clock::WaitUntil(TimePoint deadline, Duration step, const std::function<bool()>& done) {
  while (true) {
    if (done()) return true;
    const TimePoint now = Now();
    if (now >= deadline) return false;
    SleepFor(std::min(step, deadline - now));
  }
}

Clock& Clock::System() {
  static SystemClock clock;  // stateless: nothing in it changes
  return clock;
}

}  // namespace berth
