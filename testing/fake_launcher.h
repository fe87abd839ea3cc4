#pragma once
// A ProcessLauncher for tests: no process runs. A test scripts what the
// workers do (exit with a code, die of a signal, ignore SIGTERM, fail to
// start) and reads back what the code under test asked for (every launch,
// every termination batch, in order). Waits go through a Clock, so with a
// FakeClock a grace period or a WaitExit timeout passes in no time and
// exactly: scripted events can be tied to the time with FakeClock::OnSleep.
//
// It keeps the real launcher's contract (berth/process.h): ids are unique for
// the launcher's lifetime, a batch starts all or none, an exit is reported
// once, a terminated worker's exit event is queued before Terminate returns.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "berth/process.h"
#include "berth/status.h"

namespace berth::testing {

class FakeLauncher final : public ProcessLauncher {
 public:
  explicit FakeLauncher(Clock& clock) : clock_(clock) {}

  // --- Scripting ---
  // The next batch that holds `id` fails with `error` (and starts nothing).
  void FailSpawnOf(const std::string& id, Status error) { spawn_errors_[id] = std::move(error); }
  // The worker does not honour SIGTERM: a termination SIGKILLs it at grace.
  void IgnoreSigterm(const std::string& id) { ignores_sigterm_.insert(id); }
  // `id` exits with `code` as soon as it is spawned (a one-shot program).
  void ExitAtSpawn(const std::string& id, int code) { exit_at_spawn_[id] = code; }
  // The running worker exits with `code`; false if it is not running.
  bool Exit(const std::string& id, int code) {
    return End(id, code, 0, "exited with code " + std::to_string(code));
  }
  // A signal kills the running worker; false if it is not running.
  bool Kill(const std::string& id, int signal) {
    return End(id, -1, signal, "killed by signal " + std::to_string(signal));
  }

  // --- What the code under test did ---
  // Every spec it launched, in order (the ids as launched, "a/0@2" for a relaunch).
  const std::vector<LaunchSpec>& launched() const { return launched_; }
  // The ids of each TerminateMany/TerminateAll call, in order.
  const std::vector<std::vector<std::string>>& terminations() const { return terminations_; }
  bool running(const std::string& id) const { return running_.contains(id); }
  std::vector<std::string> Running() const { return {running_.begin(), running_.end()}; }
  const LaunchSpec* Find(const std::string& id) const {
    for (const LaunchSpec& s : launched_) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }

  // --- ProcessLauncher ---
  Result<std::vector<int>> SpawnMany(const std::vector<LaunchSpec>& specs) override {
    std::set<std::string> batch;
    for (const LaunchSpec& s : specs) {
      if (Find(s.id) != nullptr) return InvalidSpec("worker id '" + s.id + "' is already in use");
      if (!batch.insert(s.id).second) {
        return InvalidSpec("worker id '" + s.id + "' appears twice in the batch");
      }
    }
    for (const LaunchSpec& s : specs) {
      auto it = spawn_errors_.find(s.id);
      if (it == spawn_errors_.end()) continue;
      Status error = std::move(it->second);
      spawn_errors_.erase(it);
      return error;
    }
    std::vector<int> pids;
    for (const LaunchSpec& s : specs) {
      launched_.push_back(s);
      running_.insert(s.id);
      pids_[s.id] = next_pid_;
      pids.push_back(next_pid_++);
    }
    for (const LaunchSpec& s : specs) {
      auto it = exit_at_spawn_.find(s.id);
      if (it != exit_at_spawn_.end()) Exit(s.id, it->second);
    }
    return pids;
  }

  std::vector<ExitEvent> PollExits() override {
    std::vector<ExitEvent> out(events_.begin(), events_.end());
    events_.clear();
    return out;
  }

  Result<std::optional<ExitEvent>> WaitExit(std::chrono::milliseconds timeout) override {
    // In steps, so that an exit scripted for a moment within the timeout is
    // returned at that moment.
    const Clock::TimePoint deadline = clock_.Now() + timeout;
    while (events_.empty() && clock_.Now() < deadline) {
      clock_.SleepFor(std::min<Clock::Duration>(kStep, deadline - clock_.Now()));
    }
    if (events_.empty()) return std::optional<ExitEvent>();
    ExitEvent e = std::move(events_.front());
    events_.pop_front();
    return std::optional<ExitEvent>(std::move(e));
  }

  Status TerminateMany(const std::vector<std::string>& ids,
                       std::chrono::milliseconds grace) override {
    for (const std::string& id : ids) {
      if (Find(id) == nullptr) return NotFound("no worker '" + id + "'");
    }
    terminations_.push_back(ids);
    bool stubborn = false;
    for (const std::string& id : ids) {
      if (!running(id)) continue;
      if (ignores_sigterm_.contains(id)) {
        stubborn = true;
      } else {
        Kill(id, SIGTERM);
      }
    }
    if (!stubborn) return Status::Ok();
    clock_.SleepFor(grace);
    for (const std::string& id : ids) {
      if (running(id)) Kill(id, SIGKILL);
    }
    return Status::Ok();
  }

  Status TerminateAll(std::chrono::milliseconds grace) override {
    std::vector<std::string> all;
    for (const LaunchSpec& s : launched_) all.push_back(s.id);
    return TerminateMany(all, grace);
  }

 private:
  bool End(const std::string& id, int code, int signal, std::string description) {
    if (!running_.erase(id)) return false;
    events_.push_back({id, pids_[id], code, signal, std::move(description)});
    return true;
  }

  static constexpr std::chrono::milliseconds kStep{10};

  Clock& clock_;
  int next_pid_ = 1000;
  std::vector<LaunchSpec> launched_;
  std::map<std::string, int> pids_;
  std::set<std::string> running_;
  std::deque<ExitEvent> events_;
  std::vector<std::vector<std::string>> terminations_;
  std::map<std::string, Status> spawn_errors_;
  std::set<std::string> ignores_sigterm_;
  std::map<std::string, int> exit_at_spawn_;
};

}  // namespace berth::testing
