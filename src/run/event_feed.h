#pragma once
// The run's events for GET /v1/events (docs/control-api.md): each appended
// line gets the next number (from 1), and a reader waits, bounded, for the
// ones after the last it saw. Written by berth's main thread, read by the
// control API's threads. The newest kKeep are kept: a reader that fell
// further behind reads the rest from events.jsonl.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::run {

class EventFeed {
 public:
  static constexpr size_t kKeep = 10000;

  struct Page {
    std::vector<nlohmann::ordered_json> events;  // each with its "seq"
    int64_t next = 0;                            // pass as `after` to get what comes next
    int64_t first = 0;  // the oldest kept (0: none yet); after+1 below it: some were lost
  };

  void Append(nlohmann::ordered_json event) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      event["seq"] = ++last_;
      kept_.push_back(std::move(event));
      if (kept_.size() > kKeep) kept_.pop_front();
    }
    changed_.notify_all();
  }

  // The events numbered above `after`, waiting up to `timeout` for the first
  // of them; at once when there are some, or once Close() was called.
  Page After(int64_t after, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return closed_ || last_ > after; });
    Page page;
    page.next = std::max(after, int64_t{0});
    for (const nlohmann::ordered_json& e : kept_) {
      const int64_t seq = e["seq"].get<int64_t>();
      if (seq <= after) continue;
      page.events.push_back(e);
      page.next = seq;
    }
    page.first = kept_.empty() ? 0 : kept_.front()["seq"].get<int64_t>();
    return page;
  }

  // Readers stop waiting (berth is stopping).
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<nlohmann::ordered_json> kept_;
  int64_t last_ = 0;
  bool closed_ = false;
};

}  // namespace berth::run
