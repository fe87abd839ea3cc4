#pragma once
// The restart budget of one unit (a gang, or an instance) under a role's
// FailurePolicy: how long to wait before the next restart, and whether one
// is left. Restarts older than the window no longer count, so a unit that
// fails once a day runs for ever while one that crash-loops is given up.

#include <deque>
#include <optional>

#include "berth/clock.h"
#include "berth/experiment.h"

namespace berth {

class RestartBudget {
 public:
  explicit RestartBudget(const FailurePolicy& policy) : policy_(policy) {}

  // The unit failed at `now`. Returns the wait before it restarts
  // (backoff_initial_s doubled per restart still in the window, at most
  // backoff_max_s) and counts that restart; nullopt when max_restarts
  // restarts already lie within window_s before `now`.
  std::optional<Clock::Duration> OnFailure(Clock::TimePoint now);

  // Restarts counted within the window as of the last OnFailure.
  int used() const { return static_cast<int>(restarts_.size()); }
  const FailurePolicy& policy() const { return policy_; }

 private:
  FailurePolicy policy_;
  std::deque<Clock::TimePoint> restarts_;  // oldest first
};

}  // namespace berth
