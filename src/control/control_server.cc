// The control API's server: the token and address files, and the HTTP server's callbacks.

#include "control/control_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd_io.h"
#include "common/random.h"
#include "control/status_page.h"

namespace berth::control {

Result<std::string> NewControlToken() { return common::RandomHex(32); }

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
  std::unique_ptr<HttpServer> http;
  std::string token;
  std::string token_path;
  std::string address_path;
  int port = -1;
  bool running = false;
};

ControlServer::ControlServer() : impl_(std::make_unique<Impl>()) {}
ControlServer::~ControlServer() { Stop(); }

int ControlServer::port() const { return impl_->port; }
const std::string& ControlServer::token() const { return impl_->token; }
HttpServerStats ControlServer::stats() const {
  return impl_->http ? impl_->http->stats() : HttpServerStats{};
}

std::string ReplyText(const ControlReply& reply) {
  return reply.body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

namespace {

HttpReply ToHttp(const ControlReply& r) { return HttpReply{r.status, ReplyText(r), {}}; }

// Runs on the poll thread once the headers are in: only the token check,
// which is quick; a refused request's body is never kept.
std::optional<HttpReply> Screen(const HttpRequest& req, const std::string& token) {
  // The status page carries no data: its script asks for it with the token.
  if (IsStatusPageRequest(req)) return std::nullopt;
  const std::vector<std::string_view> auth = req.HeaderValues("Authorization");
  std::optional<ControlReply> denied;
  if (auth.size() > 1) {
    denied = UnauthorizedReply(
        "more than one Authorization header; send one, \"Authorization: Bearer <token>\"");
  } else {
    denied = CheckAuthorization(
        auth.empty() ? std::nullopt : std::optional<std::string>(std::string(auth[0])), token);
  }
  if (!denied) return std::nullopt;
  HttpReply r = ToHttp(*denied);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpReply Handle(ControlHandlers& handlers, const HttpRequest& req) {
  if (IsStatusPageRequest(req)) return StatusPageReply();
  ControlReply r;
  try {
    r = RouteControlRequest(handlers, req.method, req.path, req.params, req.body);
  } catch (const std::exception& e) {
    r = ErrorReply(Internal(std::string("internal error: ") + e.what()));
  }
  return ToHttp(r);
}

HttpReply Refuse(int http_status, const Status& why) {
  return ToHttp(ErrorReply(why, std::nullopt, http_status));
}

}  // namespace

Status ControlServer::Start(const std::string& run_dir, ControlHandlers* handlers,
                            const HttpServerLimits& limits) {
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

  const std::string token = m.token;
  m.http = std::make_unique<HttpServer>(
      limits, [token](const HttpRequest& req) { return Screen(req, token); },
      [handlers](const HttpRequest& req) { return Handle(*handlers, req); }, Refuse);
  Result<int> port = m.http->Start();
  if (!port) {
    ::unlink(m.token_path.c_str());
    m.http.reset();
    return port.error().WithPrefix("control API: ");
  }
  m.port = *port;
  m.running = true;

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
  m.http->Stop();
  ::unlink(m.token_path.c_str());
}

}  // namespace berth::control
