#include "run/stop_request.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth::run {
namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

StopRequest::StopRequest() = default;

StopRequest::~StopRequest() {
  if (signal_fd_ < 0) return;
  ::close(signal_fd_);
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Status StopRequest::ListenForSignals() {
  if (signal_fd_ >= 0) return Status::Ok();
  const sigset_t set = StopSignals();
  if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, &old_mask_); rc != 0) {
    return Internal(std::string("cannot block the stop signals: ") + std::strerror(rc));
  }
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    const int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    return Internal(std::string("cannot read the stop signals (signalfd): ") + std::strerror(err));
  }
  return Status::Ok();
}

void StopRequest::RequestDown() { down_.store(true); }

bool StopRequest::stopping() {
  if (signal_fd_ >= 0 && signal_.load() == 0) {
    signalfd_siginfo info{};
    const ssize_t n = ::read(signal_fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      int none = 0;
      signal_.compare_exchange_strong(none, static_cast<int>(info.ssi_signo));
    }
  }
  return signal_.load() != 0 || down_.load();
}

}  // namespace berth::run
