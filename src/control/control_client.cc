#include "control/control_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "control/control_http.h"
#include "control/control_server.h"

namespace berth::control {
namespace {

bool ProcessAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::string ControlResponse::error_message() const {
  if (status >= 200 && status < 300) return {};
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("message") && body["error"]["message"].is_string()) {
    return body["error"]["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(status);
}

Result<ControlAddress> ReadControlAddress(const std::string& run_dir) {
  const std::string path = ControlAddressPath(run_dir);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return NotFound(path + ": missing (berth is not running)");
    return BackendError(path + ": cannot read: " + std::strerror(errno));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  ControlAddress a;
  if (j.is_object() && j.contains("port") && j["port"].is_number_integer() && j.contains("pid") &&
      j["pid"].is_number_integer()) {
    a.port = j["port"].get<int>();
    a.pid = j["pid"].get<int>();
    a.url = j.value("url", std::string());
  }
  if (a.port <= 0 || a.port > 65535 || a.pid <= 0) {
    return InvalidSpec(path + R"(: not a berth control address (want {"url", "port", "pid"}))");
  }
  return a;
}

Result<std::string> ReadControlToken(const std::string& run_dir) {
  const std::string path = ControlTokenPath(run_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      return BackendError(path +
                          " unreadable: permission denied — run as the user who started berth");
    }
    if (err == ENOENT) return NotFound(path + ": missing (berth is not running, or is stopping)");
    return BackendError(path + " unreadable: " + std::strerror(err));
  }
  char buf[256];
  std::string text;
  while (text.size() < 1024) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) return InvalidSpec(path + ": empty; is berth still starting?");
  return text;
}

namespace {

using SteadyClock = std::chrono::steady_clock;
using PollEvents = decltype(pollfd::events);

// The longest reply read: a status of thousands of workers is a few MiB.
constexpr size_t kMaxReplyBytes = 64U << 20;

int MillisLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
}

// Waits for `events` on `fd` until `deadline`: false at the deadline.
bool WaitFor(int fd, PollEvents events, SteadyClock::time_point deadline, PollEvents* revents) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n > 0) {
      *revents = p.revents;
      return true;
    }
    if (n == 0 && SteadyClock::now() >= deadline) return false;
    if (n < 0 && errno != EINTR) return false;
  }
}

// A byte a request line or header cannot carry (it would end or split it).
bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

Result<ControlResponse> ControlCall(int port, const std::string& token, const std::string& method,
                                    const std::string& path, const std::string& body,
                                    std::chrono::milliseconds timeout) {
  const std::string where = "berth's control API at 127.0.0.1:" + std::to_string(port);
  const std::string what = method + " " + path;
  if (port <= 0 || port > 65535 || method.empty() || path.empty() || path[0] != '/' ||
      path.find(' ') != std::string::npos || HasLineBreakOrNul(method) || HasLineBreakOrNul(path) ||
      HasLineBreakOrNul(token)) {
    return InvalidSpec("control API call " + what + " to port " + std::to_string(port) +
                       ": not a valid request (want a port, a method, a /path and a token " +
                       "without spaces or line breaks)");
  }
  // One deadline for all of it: connecting, writing and reading, so that a
  // server that drips its reply cannot hold the caller past `timeout`.
  const auto deadline = SteadyClock::now() + timeout;
  const auto unavailable = [&](const std::string& why) {
    return Unavailable(where + " did not answer " + what + " (" + why + ")");
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return unavailable(std::string("socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return unavailable(std::strerror(errno));
    PollEvents revents = 0;
    if (!WaitFor(fd, POLLOUT, deadline, &revents)) return unavailable("connection timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return unavailable(std::strerror(err));
  }
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    if (!body.empty()) request += "Content-Type: application/json\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;

  HttpReplyReader reader(kMaxReplyBytes);
  size_t sent = 0;
  char buf[size_t{64} * 1024];
  for (;;) {
    // Writing and reading together: a server that answers before it read
    // all of the request (401, 413) is heard rather than written at.
    PollEvents revents = 0;
    const auto events = static_cast<PollEvents>(POLLIN | (sent < request.size() ? POLLOUT : 0));
    if (!WaitFor(fd, events, deadline, &revents)) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", std::chrono::duration<double>(timeout).count());
      return unavailable(std::string("no whole reply within ") + secs + " s");
    }
    if ((revents & POLLOUT) != 0 && sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        sent = request.size();  // the server closed; its reply, if any, is still to be read
      }
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    const int err = errno;
    if (n < 0 && (err == EAGAIN || err == EINTR)) continue;
    const HttpReplyReader::State st =
        n > 0 ? reader.Feed(std::string_view(buf, static_cast<size_t>(n))) : reader.Finish();
    if (st == HttpReplyReader::State::kFailed) {
      return unavailable(n < 0 ? std::string(std::strerror(err)) : reader.error());
    }
    if (st == HttpReplyReader::State::kDone) break;
  }
  ControlResponse out;
  out.status = reader.status();
  out.body = nlohmann::json::parse(reader.body(), nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

Result<ControlResponse> ControlRequest(const std::string& run_dir, const std::string& method,
                                       const std::string& path, const std::string& body,
                                       std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(ControlAddress addr, ReadControlAddress(run_dir));
  if (!ProcessAlive(addr.pid)) {
    return Unavailable("berth is not running (pid " + std::to_string(addr.pid) + " gone)");
  }
  BERTH_ASSIGN_OR_RETURN(std::string token, ReadControlToken(run_dir));
  return ControlCall(addr.port, token, method, path, body, timeout);
}

}  // namespace berth::control
