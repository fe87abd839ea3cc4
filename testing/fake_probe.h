#pragma once
// A WorkerProbe for tests: no socket is opened. Whether a worker is ready is
// whatever `ready` says (by default: at once); ports are free unless a test
// took them. Each round of probes is counted.

#include <chrono>
#include <functional>
#include <set>
#include <vector>

#include "berth/scheduler.h"

namespace berth::testing {

class FakeProbe final : public WorkerProbe {
 public:
  // Asked for each target of each round; default: ready.
  std::function<bool(const ReadinessTarget&)> ready;
  // Ports that another process holds.
  std::set<int> taken;

  std::vector<bool> Ready(const std::vector<ReadinessTarget>& targets,
                          std::chrono::milliseconds /*timeout*/) override {
    ++rounds_;
    std::vector<bool> out;
    out.reserve(targets.size());
    for (const ReadinessTarget& t : targets) out.push_back(!ready || ready(t));
    return out;
  }
  bool PortFree(int port) override { return !taken.contains(port); }

  int rounds() const { return rounds_; }

 private:
  int rounds_ = 0;
};

}  // namespace berth::testing
