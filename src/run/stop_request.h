#pragma once
// A request to stop `berth run`: a stop signal (SIGINT, SIGTERM, SIGHUP) or
// `berth down` through the control API. The run owns it; nothing about it is
// process-wide but the signal mask it sets up.
//
// Signals arrive through a signalfd, not a handler: ListenForSignals blocks
// them in the calling thread (threads started later inherit the block, so
// none of them takes a signal meant for the run) and the run reads them when
// it asks stopping(). Children must not inherit the block: the supervisor is
// started before it, and every program berth starts itself resets its mask.

#include <atomic>
#include <csignal>

#include "berth/status.h"

namespace berth::run {

class StopRequest {
 public:
  StopRequest();
  ~StopRequest();
  StopRequest(const StopRequest&) = delete;
  StopRequest& operator=(const StopRequest&) = delete;

  // From now on SIGINT, SIGTERM and SIGHUP ask this request to stop; the
  // destructor gives the thread its old mask back. Call it on the main thread
  // before any other thread starts.
  Status ListenForSignals();

  // Any thread: `berth down`.
  void RequestDown();

  // Any thread: has anything asked to stop? Reads pending stop signals.
  bool stopping();
  // The first stop signal that came, 0 while none came.
  int signal_number() const { return signal_.load(); }
  bool down_requested() const { return down_.load(); }

 private:
  std::atomic<int> signal_{0};
  std::atomic<bool> down_{false};
  int signal_fd_ = -1;
  sigset_t old_mask_{};
};

}  // namespace berth::run
