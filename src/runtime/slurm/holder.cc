#include "runtime/slurm/holder.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace berth::runtime::slurm {

std::vector<std::string> HolderScriptArgs(const std::string& heartbeat_path) {
  return {heartbeat_path, std::to_string(kHeartbeatLimit.count()),
          std::to_string(kHeartbeatInterval.count())};
}

Result<std::unique_ptr<Heartbeat>> Heartbeat::Start(const std::string& dir,
                                                    std::chrono::milliseconds interval) {
  std::error_code ec;
  // Absolute, for the batch script, which runs in another working directory
  // on another machine. Links in `dir` are the user's and are kept.
  const std::filesystem::path absolute = std::filesystem::absolute(dir, ec);
  if (ec) return BackendError(dir + ": cannot make the path absolute: " + ec.message());
  BERTH_ASSIGN_OR_RETURN(common::UniqueFd fd, common::OpenDirectory(dir, false, 0));
  std::unique_ptr<Heartbeat> h(new Heartbeat(
      std::move(fd), dir, (absolute / kHeartbeatFile).lexically_normal().string(), interval));
  BERTH_RETURN_IF_ERROR(h->Beat());
  h->thread_ = std::thread([p = h.get()] { p->Loop(); });
  return h;
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Heartbeat::beats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return beats_;
}

Status Heartbeat::Beat() {
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = ++beats_;
  }
  // The time only makes each text new, also across two berths on one run dir.
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const std::string text =
      "berth " + std::to_string(::getpid()) + " beat " + std::to_string(n) + " " +
      std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()) + "\n";
  BERTH_ASSIGN_OR_RETURN(common::UniqueFd f,
                         common::OpenFileBeneath(dir_.get(), kHeartbeatFile,
                                                 common::WriteMode::kTruncate, 0600, shown_dir_));
  if (::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return BackendError(path_ + ": cannot write the heartbeat: " + std::strerror(errno));
  }
  return Status::Ok();
}

void Heartbeat::Loop() {
  std::string last_error;
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    Status s = Beat();
    // Said once per kind of failure, not every two seconds.
    if (!s.ok() && s.message() != last_error) {
      std::fprintf(stderr, "berth: %s (the Slurm job cancels itself after %lld s without a beat)\n",
                   s.message().c_str(), static_cast<long long>(kHeartbeatLimit.count()));
    }
    last_error = s.ok() ? std::string() : s.message();
    lock.lock();
  }
}

}  // namespace berth::runtime::slurm
