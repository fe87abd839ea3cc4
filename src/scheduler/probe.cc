#include "scheduler/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "roles/ports.h"

namespace berth::scheduler {
namespace {

using Clock = std::chrono::steady_clock;
// poll(2)'s event mask type.
using PollEvents = decltype(pollfd::events);

int WaitFor(int fd, PollEvents events, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(left.count()));
}

// A connected socket, or -1.
int Connect(const std::string& address, int port, Clock::time_point deadline) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS || WaitFor(fd, POLLOUT, deadline) <= 0) {
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

}  // namespace

bool HttpReady(const std::string& address, int port, const std::string& path,
               std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  int fd = Connect(address, port, deadline);
  if (fd < 0) return false;
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (WaitFor(fd, POLLOUT, deadline) <= 0) break;
    } else {
      break;
    }
  }
  std::string head;
  while (sent == request.size() && head.find("\r\n") == std::string::npos && head.size() < 512) {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      head.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (WaitFor(fd, POLLIN, deadline) <= 0) break;
    } else {
      break;
    }
  }
  ::close(fd);
  // "HTTP/1.1 200 OK": any 2xx status is ready.
  size_t sp = head.find(' ');
  return head.rfind("HTTP/", 0) == 0 && sp != std::string::npos && sp + 1 < head.size() &&
         head[sp + 1] == '2';
}

namespace {

// One probe of ProbeMany, as a small state machine over a non-blocking socket.
struct Probe {
  enum class Step { kConnecting, kSending, kReading, kDone };
  Step step = Step::kDone;
  int fd = -1;
  std::string request;
  size_t sent = 0;
  std::string head;
  bool ok = false;

  void Finish(bool result) {
    ok = result;
    step = Step::kDone;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool IsHttp2xx(const std::string& head) {
  size_t sp = head.find(' ');
  return head.rfind("HTTP/", 0) == 0 && sp != std::string::npos && sp + 1 < head.size() &&
         head[sp + 1] == '2';
}

void Advance(Probe& p, const ProbeTarget& t, PollEvents revents) {
  if (p.step == Probe::Step::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (((revents & (POLLERR | POLLHUP)) != 0) ||
        ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      return p.Finish(false);
    }
    if (t.path.empty()) return p.Finish(true);
    p.request =
        "GET " + t.path + " HTTP/1.0\r\nHost: " + t.address + "\r\nConnection: close\r\n\r\n";
    p.step = Probe::Step::kSending;
  }
  if (p.step == Probe::Step::kSending) {
    ssize_t n = ::send(p.fd, p.request.data() + p.sent, p.request.size() - p.sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return p.Finish(false);
    if (n > 0) p.sent += static_cast<size_t>(n);
    if (p.sent == p.request.size()) p.step = Probe::Step::kReading;
    return;
  }
  if (p.step == Probe::Step::kReading) {
    char buf[256];
    ssize_t n = ::recv(p.fd, buf, sizeof buf, 0);
    if (n > 0) {
      p.head.append(buf, static_cast<size_t>(n));
      if (p.head.find("\r\n") != std::string::npos || p.head.size() >= 512) {
        p.Finish(IsHttp2xx(p.head));
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      p.Finish(IsHttp2xx(p.head));
    }
  }
}

}  // namespace

std::vector<bool> ProbeMany(const std::vector<ProbeTarget>& targets,
                            std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::vector<Probe> probes(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    Probe& p = probes[i];
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(targets[i].port));
    if (targets[i].port <= 0 || ::inet_pton(AF_INET, targets[i].address.c_str(), &sa.sin_addr) != 1)
      continue;
    p.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p.fd < 0) continue;
    p.step = Probe::Step::kConnecting;
    if (::connect(p.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
      p.Finish(false);  // refused at once: not listening yet
    }
  }
  std::vector<pollfd> fds;
  std::vector<size_t> which;
  while (true) {
    fds.clear();
    which.clear();
    for (size_t i = 0; i < probes.size(); ++i) {
      const Probe& p = probes[i];
      if (p.step == Probe::Step::kDone) continue;
      PollEvents events = p.step == Probe::Step::kReading ? POLLIN : POLLOUT;
      fds.push_back({p.fd, events, 0});
      which.push_back(i);
    }
    if (fds.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents != 0) Advance(probes[which[k]], targets[which[k]], fds[k].revents);
    }
  }
  std::vector<bool> out;
  out.reserve(probes.size());
  for (Probe& p : probes) {
    if (p.step != Probe::Step::kDone) p.Finish(false);  // no answer in time
    out.push_back(p.ok);
  }
  return out;
}

}  // namespace berth::scheduler

namespace berth {
namespace {

class SystemProbe final : public WorkerProbe {
 public:
  std::vector<bool> Ready(const std::vector<ReadinessTarget>& targets,
                          std::chrono::milliseconds timeout) override {
    return scheduler::ProbeMany(targets, timeout);
  }
  // Whether another process took the port of a worker that exited at
  // start-up. The worker's own connections (its readiness probes) may linger
  // in TIME_WAIT on it for a minute: no conflict, a server binds through them.
  bool PortFree(int port) override { return !roles::PortInUse(port); }
};

}  // namespace

WorkerProbe& WorkerProbe::System() {
  static SystemProbe probe;
  return probe;
}

}  // namespace berth
