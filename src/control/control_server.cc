#include "control/control_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>

#include "common/fd_io.h"
#include "formats/experiment_yaml.h"
#include "scheduler/worker_json.h"

namespace berth::control {

const char* const kControlEndpoints =
    "GET /v1/status, GET /v1/roles, GET /v1/roles/<role>/workers?timeout=SECONDS, "
    "POST /v1/roles, POST /v1/roles/<role>/fork, DELETE /v1/roles/<role>, POST /v1/down";

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidSpec:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInfeasible:
    case ErrorCode::kUnavailable:
      return 409;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kWorkerFailed:
    case ErrorCode::kBackend:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

ControlReply ErrorReply(const Status& error, const std::optional<WorkerFailure>& failure,
                        std::optional<int> http_status) {
  ControlReply r;
  r.status = http_status ? *http_status : HttpStatusFor(error.code());
  r.body = {{"error", scheduler::ErrorJson(error, failure)}};
  return r;
}

ControlReply UnauthorizedReply(const std::string& message) {
  ControlReply r;
  r.status = 401;
  nlohmann::ordered_json e;
  e["code"] = "unauthorized";
  e["message"] = message;
  r.body = {{"error", e}};
  return r;
}

namespace {

ControlReply BadRequest(const std::string& message) { return ErrorReply(InvalidSpec(message)); }

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string JsonTypeName(const nlohmann::json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "a list";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_null()) return "null";
  return "a value";
}

// The body as a JSON object, or the 400 that says what is wrong with it.
Result<nlohmann::json> JsonObjectBody(const std::string& body, const std::string& example) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return InvalidSpec("request body is empty; send a JSON object, e.g. " + example);
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    if (size_t at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    return InvalidSpec("request body is not valid JSON: " + what);
  }
  if (!j.is_object()) {
    return InvalidSpec("request body is " + JsonTypeName(j) + "; send a JSON object, e.g. " +
                       example);
  }
  return j;
}

// Unknown query parameters are errors, as unknown keys of a file are.
std::optional<ControlReply> CheckParams(
    const std::vector<std::pair<std::string, std::string>>& params,
    const std::vector<std::string>& allowed, const std::string& endpoint) {
  for (const auto& [name, value] : params) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string names;
    for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
    return BadRequest("query parameter \"" + name + "\" is not one of " + endpoint + "'s (" +
                      (names.empty() ? "it takes none" : "allowed: " + names) + ")");
  }
  return std::nullopt;
}

ControlReply Workers(ControlHandlers& h, const std::string& role,
                     const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"timeout"}, "GET /v1/roles/<role>/workers")) return *bad;
  double timeout = 0;
  for (const auto& [name, value] : params) {
    if (name != "timeout") continue;
    char* end = nullptr;
    errno = 0;
    const double t = value.empty() ? NAN : std::strtod(value.c_str(), &end);
    if (std::isnan(t) || end == nullptr || *end != '\0' || errno != 0 || t < 0 ||
        t > kMaxWorkersTimeout) {
      char max[32];
      std::snprintf(max, sizeof max, "%g", kMaxWorkersTimeout);
      return BadRequest("timeout: \"" + value + "\" is not a number of seconds from 0 to " + max +
                        " (default 0: the workers as they are now)");
    }
    timeout = t;
  }
  return h.GetWorkers(role, timeout);
}

ControlReply Create(ControlHandlers& h, const std::string& body) {
  const std::string example =
      "{\"name\": \"extra\", \"replicas\": 1, \"scheduling_spec\": {\"cmd\": [\"prog\"]}} "
      "(one element of an experiment's roles list, docs/experiment.md)";
  Result<nlohmann::json> j = JsonObjectBody(body, example);
  if (!j) return ErrorReply(j.error());
  // JSON is YAML: the experiment's own parser reads it, so a role reads the
  // same in a file and here, with the same messages.
  Result<RoleSpec> role = formats::ParseRoleYaml(body, "request body");
  if (!role) return ErrorReply(role.error());
  return h.CreateRole(*role);
}

ControlReply Fork(ControlHandlers& h, const std::string& role, const std::string& body) {
  const std::string example = R"({"target": "actor", "command": ["prog", "--flag"]})";
  Result<nlohmann::json> parsed = JsonObjectBody(body, example);
  if (!parsed) return ErrorReply(parsed.error());
  const nlohmann::json& j = *parsed;
  for (const auto& [key, value] : j.items()) {
    if (key != "target" && key != "command") {
      return BadRequest("fork: unknown key \"" + key + "\"; allowed: target, command");
    }
  }
  if (!j.contains("target")) {
    return BadRequest("fork: \"target\" is missing; name the role to fork, e.g. " + example);
  }
  const nlohmann::json& target = j.at("target");
  if (!target.is_string() || target.get<std::string>().empty()) {
    return BadRequest("fork: target: " + target.dump() +
                      " is not a role name; give the name of a role that has workers");
  }
  std::vector<std::string> command;
  if (j.contains("command")) {
    const nlohmann::json& c = j.at("command");
    if (!c.is_array() || c.empty()) {
      return BadRequest("fork: command: " + c.dump() +
                        " is not a non-empty list of strings; give the argv (no shell), or "
                        "leave command out to run the target's cmd");
    }
    for (size_t i = 0; i < c.size(); ++i) {
      if (!c[i].is_string()) {
        return BadRequest("fork: command[" + std::to_string(i) + "]: " + c[i].dump() +
                          " is not a string; the argv is a list of strings");
      }
      command.push_back(c[i].get<std::string>());
    }
  }
  return h.ForkRole(role, target.get<std::string>(), command);
}

}  // namespace

ControlReply RouteControlRequest(ControlHandlers& h, const std::string& method,
                                 const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 const std::string& body) {
  const std::vector<std::string> p =
      path.empty() || path[0] != '/' ? std::vector<std::string>{} : SplitPath(path);
  const bool v1 = !p.empty() && p[0] == "v1";
  const size_t n = p.size();
  const bool role_ok = n >= 3 && p[1] == "roles" && !p[2].empty();
  if (v1 && n == 2 && p[1] == "status" && method == "GET") {
    if (auto bad = CheckParams(params, {}, "GET /v1/status")) return *bad;
    return h.GetStatus();
  }
  if (v1 && n == 2 && p[1] == "roles" && method == "GET") {
    if (auto bad = CheckParams(params, {}, "GET /v1/roles")) return *bad;
    return h.ListRoles();
  }
  if (v1 && n == 2 && p[1] == "roles" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/roles")) return *bad;
    return Create(h, body);
  }
  if (v1 && n == 2 && p[1] == "down" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/down")) return *bad;
    return h.Down();
  }
  if (v1 && role_ok && n == 3 && method == "DELETE") {
    if (auto bad = CheckParams(params, {}, "DELETE /v1/roles/<role>")) return *bad;
    return h.DeleteRole(p[2]);
  }
  if (v1 && role_ok && n == 4 && p[3] == "workers" && method == "GET") {
    return Workers(h, p[2], params);
  }
  if (v1 && role_ok && n == 4 && p[3] == "fork" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/roles/<role>/fork")) return *bad;
    return Fork(h, p[2], body);
  }
  return ErrorReply(
      NotFound("no endpoint " + method + " " + path + "; the endpoints: " + kControlEndpoints));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer one is read whatever the contents; only the
  // lengths (not secret: a token is always 64 digits) change the time.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  // Through a volatile, so that the compiler cannot stop at the first difference.
  volatile unsigned result = diff;
  return result == 0;
}

std::optional<ControlReply> CheckAuthorization(const std::optional<std::string>& authorization,
                                               const std::string& token) {
  if (!authorization || authorization->empty()) {
    return UnauthorizedReply(
        "no Authorization header; send \"Authorization: Bearer <token>\" with the token from "
        "RUN_DIR/control.token");
  }
  const std::string& a = *authorization;
  const std::string scheme = "bearer ";
  bool bearer = a.size() > scheme.size();
  for (size_t i = 0; bearer && i < scheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(a[i])) == scheme[i];
  }
  if (!bearer) {
    return UnauthorizedReply(
        "the Authorization header is not \"Bearer <token>\"; send the token from "
        "RUN_DIR/control.token as a bearer token");
  }
  std::string_view given(a);
  given.remove_prefix(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
  if (token.empty() || !ConstantTimeEquals(given, token)) {
    return UnauthorizedReply(
        "wrong token; use the one in RUN_DIR/control.token of this run (it changes every time "
        "berth run starts)");
  }
  return std::nullopt;
}

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

// --- ControlMailbox ---

struct ControlMailbox::Entry {
  std::function<ControlReply()> job;
  std::promise<ControlReply> promise;
  bool taken = false;  // by Drain or Close: answered by them
};

ControlMailbox::ControlMailbox(std::function<std::string()> busy) : busy_(std::move(busy)) {}

ControlMailbox::~ControlMailbox() { Close("berth is stopping"); }

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
                        std::string(err ? std::strerror(err) : "bind failed"));
  }
  // The server's threads (the listener and its pool, which it creates)
  // inherit this mask: SIGPIPE from a client gone mid-reply stays pending
  // there instead of killing berth, and stop signals go to berth's main thread.
  sigset_t block, old;
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
