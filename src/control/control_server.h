#pragma once
// The control API of a running `berth run`: HTTP/JSON on 127.0.0.1, on an
// ephemeral port, every request carrying `Authorization: Bearer <token>`.
// docs/control-api.md describes the endpoints.
//
// Files in the run dir, while berth runs:
//   control.token  64 hex digits (32 random bytes), mode 0600, created with
//                  O_EXCL|O_NOFOLLOW: only the user who started berth can read it
//   control.json   {"url": "http://127.0.0.1:PORT", "port": PORT, "pid": PID},
//                  written atomically once the server listens
// Both are removed by Stop().
//
// The server authenticates, routes and parses; what each endpoint does is a
// ControlHandlers (berth run's, or a test's fake). Handlers run on the
// server's threads, one per request: the Scheduler is not thread-safe, so
// berth run hands the calls that touch it to its main thread through a
// ControlMailbox. The transport and its limits (deadlines, the connection
// cap) are control_http_server.h's.

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/experiment.h"
#include "berth/scheduler.h"
#include "berth/status.h"
#include "control/control_http_server.h"
#include "formats/run_state.h"

namespace berth::control {

// A reply: an HTTP status and a JSON body.
struct ControlReply {
  int status = 200;
  nlohmann::ordered_json body = nlohmann::ordered_json::object();
};

// invalid_spec 400, not_found 404, infeasible and unavailable 409,
// worker_failed 500, timeout 504, backend and internal 500.
int HttpStatusFor(ErrorCode code);
// {"error": ErrorJson(error, failure)}, with HttpStatusFor(error.code()), or
// `http_status` when given.
ControlReply ErrorReply(const Status& error,
                        const std::optional<WorkerFailure>& failure = std::nullopt,
                        std::optional<int> http_status = std::nullopt);
// 401 {"error": {"code": "unauthorized", "message"}}.
ControlReply UnauthorizedReply(const std::string& message);

// What the endpoints do. Called on the server's threads, several at once.
class ControlHandlers {
 public:
  virtual ~ControlHandlers() = default;
  virtual ControlReply GetStatus() = 0;  // GET /v1/status
  // GET /v1/status?after_version=V&timeout=SECONDS: the status once its
  // "version" is above V, waiting up to the timeout (then as it is); the
  // status page's live view. Default: GetStatus() at once.
  virtual ControlReply GetStatusAfter(int64_t after_version, double timeout_s);
  // GET /v1/map: {"html": the run's placement map (formats/plan_map.h)}.
  // Default: 404.
  virtual ControlReply GetMap();
  virtual ControlReply ListRoles() = 0;  // GET /v1/roles
  virtual ControlReply GetWorkers(const std::string& role, double timeout_s) = 0;
  virtual ControlReply CreateRole(const RoleSpec& role) = 0;  // POST /v1/roles
  virtual ControlReply ForkRole(const std::string& role, const std::string& target,
                                const std::vector<std::string>& command) = 0;
  virtual ControlReply DeleteRole(const std::string& role) = 0;  // DELETE
  virtual ControlReply Down() = 0;                               // POST /v1/down
  // GET /v1/events?after=N&timeout=SECONDS: the events numbered above N,
  // waiting up to the timeout for one. Default: 404, none kept.
  virtual ControlReply GetEvents(int64_t after, double timeout_s);
  // GET /v1/groups/<name>?after_version=V&timeout=SECONDS: the
  // communication group once its version is above V, waiting up to the
  // timeout (then its current version). Default: 404.
  virtual ControlReply GetGroup(const std::string& name, int64_t after_version, double timeout_s);
  // POST /v1/roles/<role>/scale {"replicas": N, "timeout": SECONDS}: the
  // role grown or shrunk by instances (Scheduler::ScaleWorkers); nullopt
  // timeout: each worker's startup timeout. Default: 404.
  virtual ControlReply ScaleRole(const std::string& role, int replicas,
                                 std::optional<double> timeout_s);
};

// The endpoints, as the 404 for an unknown one lists them.
extern const char* const kControlEndpoints;
// Longest request body accepted (a role is a page of JSON).
inline constexpr size_t kMaxControlBody = 1 << 20;
// Longest ?timeout= of GET /v1/roles/<role>/workers, in seconds.
inline constexpr double kMaxWorkersTimeout = 3600;
// Most lines of GET /v1/log?worker=ID&lines=N, and its default.
inline constexpr int kMaxLogLines = 1000;
inline constexpr int kDefaultLogLines = 100;

// One request, after authentication: the route, the checks of its query and
// body, and the handler's reply. `params`: the query's (name, value) pairs.
ControlReply RouteControlRequest(ControlHandlers& handlers, const std::string& method,
                                 const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 const std::string& body);

// Authentication: `authorization` is the request's Authorization header as
// sent, less the spaces around it (nullopt: none). Nullopt when it is the
// scheme `Bearer` (any case, RFC 7235), one or more spaces, and then exactly
// the token's bytes, compared in constant time; else the 401 reply.
std::optional<ControlReply> CheckAuthorization(const std::optional<std::string>& authorization,
                                               const std::string& token);

// The reply's bytes: its JSON and a newline. Never throws: bytes that are not
// UTF-8 (from a %-decoded path, say) become U+FFFD.
std::string ReplyText(const ControlReply& reply);

// Equal bytes, in a time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// 32 bytes from /dev/urandom, as 64 lowercase hex digits.
Result<std::string> NewControlToken();
std::string ControlTokenPath(const std::string& run_dir);    // <run_dir>/control.token
std::string ControlAddressPath(const std::string& run_dir);  // <run_dir>/control.json
// Creates `path` with the token and a newline, mode 0600 whatever the umask
// (O_CREAT|O_EXCL|O_NOFOLLOW: a file or link already there is an error).
Status WriteControlToken(const std::string& path, const std::string& token);

// Requests for the one thread that drives the Scheduler. A server thread
// Call()s and blocks; the owner runs the queued jobs in Drain(), one at a
// time, in order.
class ControlMailbox {
 public:
  // `busy`: a sentence on why a job waits (berth's phase), for the 503.
  explicit ControlMailbox(std::function<std::string()> busy = {});
  ~ControlMailbox();  // Close()s
  ControlMailbox(const ControlMailbox&) = delete;
  ControlMailbox& operator=(const ControlMailbox&) = delete;

  // Queues `job` and returns its reply once the owner ran it. A job that
  // the owner has not taken within `queue_timeout` is withdrawn (never run):
  // 503. Once taken it runs to its end (the Scheduler's calls are bounded).
  // After Close(): 503 at once.
  ControlReply Call(std::function<ControlReply()> job, std::chrono::milliseconds queue_timeout);
  // Runs every job queued now; returns how many ran. The owner's thread.
  size_t Drain();
  // Called (on the caller's thread) after each job is queued, so that an
  // owner waiting on something else turns to Drain at once.
  void SetWake(std::function<void()> wake);
  // Refuses new jobs and answers queued ones with 503 `why`.
  void Close(const std::string& why);
  size_t queued() const;

 private:
  struct Entry;
  std::function<std::string()> busy_;
  mutable std::mutex mu_;
  std::function<void()> wake_;  // guarded by mu_
  std::deque<std::shared_ptr<Entry>> queue_;
  bool closed_ = false;
  std::string closed_why_;
};

class ControlServer {
 public:
  ControlServer();
  ~ControlServer();  // Stop()s
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Writes the token (a stale one removed first), listens on 127.0.0.1 on
  // an ephemeral port, then writes control.json. `handlers` must outlive
  // every call of theirs (see Stop). Its threads block SIGPIPE (a client
  // gone mid-reply is an error there, not a signal to berth) and berth's
  // stop signals. `limits`: tests shorten them.
  Status Start(const std::string& run_dir, ControlHandlers* handlers,
               const HttpServerLimits& limits = {});
  // Removes control.json, stops listening, drops connections still sending,
  // gives the requests in handlers up to limits.stop_grace (1 s) to be
  // answered (close the mailbox first: its waiting calls then answer 503 at
  // once), closes every connection and removes control.token. Returns within
  // that grace whatever clients and handlers do: a handler still running is
  // abandoned (its reply dropped), so ControlHandlers must outlive it.
  // Idempotent.
  void Stop();
  int port() const;
  const std::string& token() const;
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::control
