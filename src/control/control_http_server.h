#pragma once
// The control API's transport: an HTTP/1.1 server on 127.0.0.1 that no
// client can stall. One thread polls every socket (non-blocking: a slow or
// idle client costs a slot in a poll set, never a thread); a complete request
// goes to a thread of its own, so a handler that waits (GET workers waits up
// to ?timeout=) delays no other request; its reply goes back to the poll
// thread, which writes it.
//
// Why not a library: cpp-httplib gives each connection a pool thread for
// its blocking reads (8 idle clients stall everyone) and Stop() joins
// threads stuck in them; GNU libmicrohttpd 0.9.75 (Debian 12) cuts a header
// value at a NUL byte (strlen) and joins folded lines, so the Authorization
// header cannot be compared as sent, answers malformed requests with fixed
// HTML pages, aborts the process in MHD_stop_daemon while a connection is
// suspended (a handler still running), and has neither a whole-request
// deadline nor a way to make room for a new client. Each of these is a few
// lines here, on one thread that owns every socket.
//
// Limits, per connection: the request (line, headers and body) must arrive
// within `request_deadline` of connecting, with no gap over `idle_timeout`;
// the reply must be taken within `reply_deadline`. At most `max_connections`
// at once: a new one beyond that replaces the oldest that has not sent a
// whole request (or, when every one is in a handler, is answered 503). Stop()
// returns within `stop_grace` plus a poll round, whatever clients and
// handlers do.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "berth/status.h"
#include "control/control_http.h"

namespace berth::control {

struct HttpServerLimits {
  size_t max_connections = 64;
  std::chrono::milliseconds request_deadline{10000};
  std::chrono::milliseconds idle_timeout{5000};
  std::chrono::milliseconds reply_deadline{10000};
  // After a reply, the client's remaining input is read and dropped for at
  // most this long (closing with unread input would reset the connection and
  // could destroy the reply before the client reads it).
  std::chrono::milliseconds linger{1000};
  // How long Stop() lets requests in progress finish and be answered.
  std::chrono::milliseconds stop_grace{1000};
  HttpRequestReader::Limits request;
};

// Counts, for tests and for a look from a debugger.
struct HttpServerStats {
  uint64_t open = 0;       // connections now
  uint64_t handling = 0;   // requests in a handler now
  uint64_t accepted = 0;   // connections, ever
  uint64_t answered = 0;   // replies written in full
  uint64_t expired = 0;    // dropped at a deadline or timeout
  uint64_t evicted = 0;    // dropped to make room for a new connection
  uint64_t refused = 0;    // answered 503: every slot in a handler
  uint64_t abandoned = 0;  // handlers still running when Stop() returned
};

class HttpServer {
 public:
  // On the poll thread, once a request's headers are in: a reply here is
  // the answer (the body is read and dropped). Must not block.
  using Screen = std::function<std::optional<HttpReply>(const HttpRequest&)>;
  // On a thread of its own, with the whole request.
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  // The reply for what the transport refuses: a malformed or too large
  // request (400, 413, 414, 431, 501, 505), a deadline (408), no slot (503).
  using Refusal = std::function<HttpReply(int http_status, const Status& why)>;

  HttpServer(HttpServerLimits limits, Screen screen, Handler handler, Refusal refusal);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on 127.0.0.1, on a port the kernel picks, and starts the poll
  // thread (with SIGPIPE and berth's stop signals blocked; handler threads
  // inherit that). Returns the port.
  Result<int> Start();
  // Stops accepting and drops connections still sending a request, lets the
  // requests in handlers finish and be answered for up to `stop_grace`,
  // then closes everything. A handler still running then is abandoned: its
  // thread ends when the handler returns, and its reply is dropped (the
  // Handler, a copy, stays alive until then). Idempotent.
  void Stop();
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::control
