#include "run/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::run {
namespace {

using Clock = std::chrono::steady_clock;

int WaitFor(int fd, short events, Clock::time_point deadline) {
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

bool TcpReady(const std::string& address, int port, std::chrono::milliseconds timeout) {
  int fd = Connect(address, port, Clock::now() + timeout);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

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

}  // namespace berth::run
