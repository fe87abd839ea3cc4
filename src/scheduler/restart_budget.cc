#include "berth/restart_budget.h"

#include <algorithm>
#include <chrono>

namespace berth {

std::optional<Clock::Duration> RestartBudget::OnFailure(Clock::TimePoint now) {
  const auto window =
      std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(policy_.window_s));
  while (!restarts_.empty() && now - restarts_.front() >= window) restarts_.pop_front();
  if (used() >= policy_.max_restarts) return std::nullopt;
  // Doubling stops at the cap long before 2^n could overflow.
  double wait = policy_.backoff_initial_s;
  for (int i = 0; i < used() && wait < policy_.backoff_max_s; ++i) wait *= 2;
  wait = std::min(wait, policy_.backoff_max_s);
  restarts_.push_back(now);
  return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(wait));
}

}  // namespace berth
