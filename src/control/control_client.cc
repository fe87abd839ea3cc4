#include "control/control_client.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill, sigaction
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "control/control_server.h"

namespace berth::control {
namespace {

bool ProcessAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// SIGPIPE ignored while a request is written: a server gone mid-request is
// an error of the request, not a signal that ends the caller.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, &old_);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

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

Result<ControlResponse> ControlCall(int port, const std::string& token, const std::string& method,
                                    const std::string& path, const std::string& body,
                                    std::chrono::milliseconds timeout) {
  IgnoreSigpipe quiet;
  httplib::Client cli("127.0.0.1", port);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  const auto connect_us = std::min<int64_t>(us, 2'000'000);
  cli.set_connection_timeout(connect_us / 1'000'000, connect_us % 1'000'000);
  cli.set_read_timeout(us / 1'000'000, us % 1'000'000);
  cli.set_write_timeout(us / 1'000'000, us % 1'000'000);
  httplib::Request req;
  req.method = method;
  req.path = path;
  if (!token.empty()) req.set_header("Authorization", "Bearer " + token);
  if (!body.empty()) {
    req.body = body;
    req.set_header("Content-Type", "application/json");
  }
  httplib::Result res = cli.send(req);
  if (!res) {
    return Unavailable("berth's control API at 127.0.0.1:" + std::to_string(port) +
                       " did not answer " + method + " " + path + " (" +
                       httplib::to_string(res.error()) + ")");
  }
  ControlResponse out;
  out.status = res->status;
  out.body = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
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
