// The control API's transport: the token and address files, the httplib server and its thread.

#include "control/control_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd_io.h"

namespace berth::control {

Result<std::string> NewControlToken() {
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return BackendError(std::string("/dev/urandom: cannot open: ") + std::strerror(errno));
  unsigned char bytes[32];
  size_t done = 0;
  while (done < sizeof bytes) {
    const ssize_t n = ::read(fd, bytes + done, sizeof bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return BackendError(std::string("/dev/urandom: cannot read: ") + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string ControlTokenPath(const std::string& run_dir) { return run_dir + "/control.token"; }
std::string ControlAddressPath(const std::string& run_dir) { return run_dir + "/control.json"; }

Status WriteControlToken(const std::string& path, const std::string& token) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return BackendError(path + ": cannot create: " + std::strerror(errno));
  // The umask can only take bits away from 0600; fchmod makes it exactly
  // 0600 whatever it is.
  Status st;
  if (::fchmod(fd, 0600) != 0) st = BackendError(path + ": chmod failed: " + std::strerror(errno));
  if (st.ok()) st = common::WriteAll(fd, token + "\n", path);
  ::close(fd);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

// --- ControlServer ---

struct ControlServer::Impl {
  httplib::Server svr;
  std::thread thread;
  std::string token;
  std::string token_path;
  std::string address_path;
  int port = -1;
  bool running = false;
  std::atomic<bool> loop_ended{false};
};

ControlServer::ControlServer() : impl_(std::make_unique<Impl>()) {}
ControlServer::~ControlServer() { Stop(); }

int ControlServer::port() const { return impl_->port; }
const std::string& ControlServer::token() const { return impl_->token; }

namespace {

void Send(httplib::Response& res, const ControlReply& r) {
  res.status = r.status;
  res.set_content(r.body.dump() + "\n", "application/json");
}

std::string HttpReason(int status) {
  switch (status) {
    case 400:
      return "bad HTTP request";
    case 404:
      return "not found";
    case 413:
      return "request body over 1 MiB";
    case 414:
      return "request URI too long";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

}  // namespace

Status ControlServer::Start(const std::string& run_dir, ControlHandlers* handlers) {
  Impl& m = *impl_;
  if (m.running) return Internal("ControlServer::Start: already started");
  BERTH_ASSIGN_OR_RETURN(m.token, NewControlToken());
  m.token_path = ControlTokenPath(run_dir);
  m.address_path = ControlAddressPath(run_dir);
  // A stale token (berth killed with SIGKILL) is replaced; O_EXCL below then
  // refuses anything that appears meanwhile.
  if (::unlink(m.token_path.c_str()) != 0 && errno != ENOENT) {
    return BackendError(m.token_path + ": cannot remove the old token: " + std::strerror(errno));
  }
  ::unlink(m.address_path.c_str());
  BERTH_RETURN_IF_ERROR(WriteControlToken(m.token_path, m.token));

  httplib::Server& svr = m.svr;
  svr.set_payload_max_length(kMaxControlBody);
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  // One request per connection: no idle keep-alive connection holds Stop().
  svr.set_keep_alive_max_count(1);
  const std::string token = m.token;
  auto route = [handlers](const httplib::Request& req, httplib::Response& res) {
    std::vector<std::pair<std::string, std::string>> params(req.params.begin(), req.params.end());
    ControlReply r;
    try {
      r = RouteControlRequest(*handlers, req.method, req.path, params, req.body);
    } catch (const std::exception& e) {
      r = ErrorReply(Internal(std::string("internal error: ") + e.what()));
    }
    Send(res, r);
  };
  // Runs before httplib reads a body: the token is checked before anything
  // else, and a request that declares no body (`curl -X POST .../v1/down`
  // sends no Content-Length) is routed here, because httplib would wait for
  // the client to close the connection as the end of a POST's body.
  svr.set_pre_routing_handler([token, route](const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> auth;
    if (req.has_header("Authorization")) auth = req.get_header_value("Authorization");
    if (std::optional<ControlReply> denied = CheckAuthorization(auth, token)) {
      Send(res, *denied);
      res.set_header("WWW-Authenticate", "Bearer");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      route(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.Get(".*", route);
  svr.Post(".*", route);
  svr.Delete(".*", route);
  svr.Put(".*", route);
  svr.Patch(".*", route);
  svr.Options(".*", route);
  // httplib's own errors (a malformed request, a body too large): JSON too.
  svr.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const Status why = res.status == 404 ? NotFound(HttpReason(res.status))
                                             : InvalidSpec(HttpReason(res.status));
        ControlReply r = ErrorReply(why, std::nullopt, res.status);
        res.set_content(r.body.dump() + "\n", "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));

  m.port = svr.bind_to_any_port("127.0.0.1");
  if (m.port <= 0) {
    const int err = errno;
    ::unlink(m.token_path.c_str());
    return BackendError("control API: cannot listen on 127.0.0.1: " +
                        std::string(err != 0 ? std::strerror(err) : "bind failed"));
  }
  // The server's threads (the listener and its pool, which it creates)
  // inherit this mask: SIGPIPE from a client gone mid-reply stays pending
  // there instead of killing berth, and stop signals go to berth's main thread.
  sigset_t block;
  sigset_t old;
  sigemptyset(&block);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  m.thread = std::thread([&m] {
    m.svr.listen_after_bind();
    m.loop_ended.store(true);
  });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  m.running = true;
  // httplib's stop() does nothing until the loop runs; the socket already
  // listens (connections queue), so this wait costs no client anything.
  for (int i = 0; i < 2000 && !svr.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // The address, atomically, once the socket listens.
  nlohmann::ordered_json addr;
  addr["url"] = "http://127.0.0.1:" + std::to_string(m.port);
  addr["port"] = m.port;
  addr["pid"] = static_cast<int>(::getpid());
  const std::string tmp = m.address_path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  Status st = fd < 0 ? BackendError(tmp + ": cannot write: " + std::strerror(errno))
                     : common::WriteAll(fd, addr.dump() + "\n", tmp);
  // No fsync: both files only mean something while this process lives.
  if (fd >= 0) ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), m.address_path.c_str()) != 0) {
    st = BackendError(m.address_path + ": rename failed: " + std::strerror(errno));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    Stop();
    return st;
  }
  return Status::Ok();
}

void ControlServer::Stop() {
  Impl& m = *impl_;
  if (!m.running) return;
  m.running = false;
  // Clients stop finding it first; the token goes last, once nothing serves.
  ::unlink(m.address_path.c_str());
  // Until the loop runs, stop() would do nothing (see Start).
  while (!m.svr.is_running() && !m.loop_ended.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  m.svr.stop();
  if (m.thread.joinable()) m.thread.join();
  ::unlink(m.token_path.c_str());
}

}  // namespace berth::control
