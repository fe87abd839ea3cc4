// ControlMailbox: hands the control API's calls to the one thread that drives the Scheduler.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "control/control_server.h"

namespace berth::control {

struct ControlMailbox::Entry {
  std::function<ControlReply()> job;
  std::promise<ControlReply> promise;
  bool taken = false;  // by Drain or Close: answered by them
};

ControlMailbox::ControlMailbox(std::function<std::string()> busy) : busy_(std::move(busy)) {}

ControlMailbox::~ControlMailbox() { Close("berth is stopping"); }

void ControlMailbox::SetWake(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = std::move(wake);
}

ControlReply ControlMailbox::Call(std::function<ControlReply()> job,
                                  std::chrono::milliseconds queue_timeout) {
  auto e = std::make_shared<Entry>();
  e->job = std::move(job);
  std::future<ControlReply> reply = e->promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return ErrorReply(Unavailable(closed_why_), std::nullopt, 503);
    queue_.push_back(e);
  }
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake = wake_;
  }
  if (wake) wake();  // the owner may be waiting on something else
  if (reply.wait_for(queue_timeout) == std::future_status::ready) return reply.get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!e->taken) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), e));
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", std::chrono::duration<double>(queue_timeout).count());
      const std::string why = busy_ ? busy_() : std::string("berth is busy");
      return ErrorReply(Unavailable("berth did not take the request within " + std::string(secs) +
                                    " s (" + why + "); nothing was done, try again"),
                        std::nullopt, 503);
    }
  }
  return reply.get();  // running now: the Scheduler's own bounds apply
}

size_t ControlMailbox::Drain() {
  size_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = queue_.size();
  }
  size_t ran = 0;
  for (; ran < n; ++ran) {
    std::shared_ptr<Entry> e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) break;
      e = queue_.front();
      queue_.pop_front();
      e->taken = true;
    }
    ControlReply r;
    try {
      r = e->job();
    } catch (const std::exception& ex) {
      r = ErrorReply(Internal(std::string("internal error: ") + ex.what()));
    }
    e->promise.set_value(std::move(r));
  }
  return ran;
}

void ControlMailbox::Close(const std::string& why) {
  std::deque<std::shared_ptr<Entry>> answered;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) {
      closed_ = true;
      closed_why_ = why;
    }
    answered.swap(queue_);
    for (auto& e : answered) e->taken = true;
  }
  for (auto& e : answered) {
    e->promise.set_value(ErrorReply(Unavailable(why + "; nothing was done"), std::nullopt, 503));
  }
}

size_t ControlMailbox::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace berth::control
