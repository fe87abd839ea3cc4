// The control API's HTTP server: one poll thread over non-blocking sockets, a thread per request.

#include "control/control_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace berth::control {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using std::chrono::milliseconds;
using PollEvents = decltype(pollfd::events);

// Between the poll thread and the handler threads, which may outlive the
// server (a handler still running at Stop): they hold it by shared_ptr.
struct Exchange {
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;    // false: the server stopped; replies are dropped
  int wake_fd = -1;    // the poll thread's eventfd; written only while open
  size_t running = 0;  // handler threads not finished
  size_t busy = 0;     // while stopping: connections in a handler or writing
  std::deque<std::pair<uint64_t, HttpReply>> replies;
};

void Wake(int fd) {
  const uint64_t one = 1;
  // Nothing to do on failure: the counter is already non-zero (EAGAIN).
  const ssize_t n = ::write(fd, &one, sizeof one);
  (void)n;
}

struct Conn {
  enum class Phase { kReading, kHandling, kWriting, kLingering };
  Conn(uint64_t id_, int fd_, TimePoint now, const HttpRequestReader::Limits& limits)
      : id(id_), fd(fd_), accepted(now), last_activity(now), phase_started(now), reader(limits) {}
  uint64_t id;
  int fd;
  Phase phase = Phase::kReading;
  TimePoint accepted;
  TimePoint last_activity;  // the last byte read or written
  TimePoint phase_started;
  HttpRequestReader reader;
  bool head_request = false;
  bool hung_up = false;  // reset while in a handler: out of the poll set until its reply
  std::string out;
  size_t sent = 0;
};

std::string BodyTooLarge(size_t max_body) {
  const std::string size = max_body % (1 << 20) == 0 ? std::to_string(max_body >> 20) + " MiB"
                                                     : std::to_string(max_body) + " bytes";
  return "request body over " + size + "; the control API's bodies are a page of JSON";
}

}  // namespace

struct HttpServer::Impl {
  HttpServerLimits limits;
  Screen screen;
  Handler handler;
  Refusal refusal;
  int listen_fd = -1;
  int wake_fd = -1;
  std::shared_ptr<Exchange> exchange;
  std::thread thread;
  bool running = false;
  std::atomic<bool> stopping{false};  // Stop() began: no new connections
  std::atomic<bool> exiting{false};   // Stop()'s grace is over: close everything
  TimePoint accept_paused_until{};    // out of file descriptors: try again later

  // The poll thread's own.
  std::map<uint64_t, Conn> conns;  // by id: the oldest first
  uint64_t next_id = 1;

  std::atomic<uint64_t> n_accepted{0}, n_answered{0}, n_expired{0}, n_evicted{0}, n_refused{0},
      n_abandoned{0}, n_open{0}, n_handling{0};

  void Loop();
  void Accept(TimePoint now);
  void Add(int fd, TimePoint now);
  void OnReadable(Conn& c, TimePoint now);
  void OnWritable(Conn& c, TimePoint now);
  void Respond(Conn& c, const HttpReply& reply, TimePoint now);
  void Dispatch(Conn& c, TimePoint now);
  void TakeReplies(TimePoint now);
  void Expire(TimePoint now);
  void Drop(Conn& c, int status, const Status& why);
  void Close(Conn& c);
  TimePoint DeadlineOf(const Conn& c) const;
  void Count();
};

HttpServer::HttpServer(HttpServerLimits limits, Screen screen, Handler handler, Refusal refusal)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->screen = std::move(screen);
  impl_->handler = std::move(handler);
  impl_->refusal = std::move(refusal);
}

HttpServer::~HttpServer() { Stop(); }

HttpServerStats HttpServer::stats() const {
  const Impl& m = *impl_;
  HttpServerStats s;
  s.open = m.n_open.load();
  s.handling = m.n_handling.load();
  s.accepted = m.n_accepted.load();
  s.answered = m.n_answered.load();
  s.expired = m.n_expired.load();
  s.evicted = m.n_evicted.load();
  s.refused = m.n_refused.load();
  s.abandoned = m.n_abandoned.load();
  return s;
}

Result<int> HttpServer::Start() {
  Impl& m = *impl_;
  if (m.running) return Internal("HttpServer::Start: already started");
  m.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (m.listen_fd < 0) return BackendError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(m.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(m.listen_fd, 128) != 0 ||
      ::getsockname(m.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(m.listen_fd);
    m.listen_fd = -1;
    return BackendError(std::string("cannot listen on 127.0.0.1: ") + std::strerror(err));
  }
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.wake_fd < 0) {
    const int err = errno;
    ::close(m.listen_fd);
    m.listen_fd = -1;
    return BackendError(std::string("eventfd: ") + std::strerror(err));
  }
  m.exchange = std::make_shared<Exchange>();
  m.exchange->wake_fd = m.wake_fd;
  m.stopping = false;
  m.exiting = false;
  // The poll thread, and the handler threads it starts, inherit this mask:
  // SIGPIPE stays pending there instead of killing berth (every send has
  // MSG_NOSIGNAL too), and stop signals go to berth's main thread.
  sigset_t block;
  sigset_t old;
  sigemptyset(&block);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  m.thread = std::thread([&m] { m.Loop(); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  m.running = true;
  return static_cast<int>(ntohs(addr.sin_port));
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (!m.running) return;
  m.running = false;
  Exchange& x = *m.exchange;
  {
    // The poll thread sets `busy` once it closed the listener and the
    // connections still reading; then requests in progress have the grace.
    std::lock_guard<std::mutex> lock(x.mu);
    x.busy = SIZE_MAX;
  }
  m.stopping = true;
  Wake(m.wake_fd);
  {
    std::unique_lock<std::mutex> lock(x.mu);
    x.cv.wait_until(lock, SteadyClock::now() + m.limits.stop_grace,
                    [&x] { return x.running == 0 && x.busy == 0; });
    m.n_abandoned += x.running;
    x.open = false;  // from here no handler thread touches wake_fd
  }
  m.exiting = true;
  Wake(m.wake_fd);
  m.thread.join();
  ::close(m.wake_fd);
  m.wake_fd = -1;
}

void HttpServer::Impl::Count() {
  uint64_t handling = 0;
  uint64_t busy = 0;
  for (const auto& [id, c] : conns) {
    if (c.phase == Conn::Phase::kHandling) ++handling;
    if (c.phase == Conn::Phase::kHandling || c.phase == Conn::Phase::kWriting) ++busy;
  }
  n_open = conns.size();
  n_handling = handling;
  if (stopping) {
    std::lock_guard<std::mutex> lock(exchange->mu);
    exchange->busy = busy;
    exchange->cv.notify_all();
  }
}

void HttpServer::Impl::Loop() {
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  while (!exiting) {
    TimePoint now = SteadyClock::now();
    fds.clear();
    ids.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    const bool listening = listen_fd >= 0 && now >= accept_paused_until;
    if (listening) fds.push_back({listen_fd, POLLIN, 0});
    TimePoint next = now + milliseconds(1000);
    if (listen_fd >= 0 && !listening) next = std::min(next, accept_paused_until);
    for (auto& [id, c] : conns) {
      if (c.hung_up) continue;  // else poll reports its POLLHUP at once, every round
      PollEvents events = 0;
      if (c.phase == Conn::Phase::kReading || c.phase == Conn::Phase::kLingering) events = POLLIN;
      if (c.phase == Conn::Phase::kWriting) events = POLLOUT;
      fds.push_back({c.fd, events, 0});
      ids.push_back(id);
      next = std::min(next, DeadlineOf(c));
    }
    const auto wait = std::chrono::duration_cast<milliseconds>(next - now) + milliseconds(1);
    const int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (n < 0 && errno != EINTR) std::this_thread::sleep_for(milliseconds(10));  // cannot happen
    now = SteadyClock::now();
    if (fds[0].revents != 0) {
      uint64_t counter;
      const ssize_t got = ::read(wake_fd, &counter, sizeof counter);
      (void)got;
    }
    TakeReplies(now);
    if (stopping && listen_fd >= 0) {
      ::close(listen_fd);
      listen_fd = -1;
      for (auto it = conns.begin(); it != conns.end();) {
        Conn& c = (it++)->second;
        if (c.phase == Conn::Phase::kReading || c.phase == Conn::Phase::kLingering) Close(c);
      }
    } else if (listening && (fds[1].revents & POLLIN) != 0) {
      Accept(now);
    }
    const size_t first = listening ? 2 : 1;
    for (size_t k = 0; k < ids.size(); ++k) {
      const PollEvents revents = fds[first + k].revents;
      auto it = conns.find(ids[k]);
      if (revents == 0 || it == conns.end()) continue;
      Conn& c = it->second;
      if (c.phase == Conn::Phase::kReading || c.phase == Conn::Phase::kLingering) {
        OnReadable(c, now);
      } else if (c.phase == Conn::Phase::kWriting) {
        OnWritable(c, now);
      } else if ((revents & (POLLHUP | POLLERR)) != 0) {
        // kHandling, and the client reset: its slot stays taken until the
        // handler returns (so handler threads stay bounded by the slots),
        // and the reply then fails to be written and closes it.
        c.hung_up = true;
      }
    }
    Expire(now);
    Count();
  }
  for (auto it = conns.begin(); it != conns.end();) Close((it++)->second);
  Count();
  if (listen_fd >= 0) ::close(listen_fd);
  listen_fd = -1;
}

TimePoint HttpServer::Impl::DeadlineOf(const Conn& c) const {
  switch (c.phase) {
    case Conn::Phase::kReading:
      return std::min(c.accepted + limits.request_deadline, c.last_activity + limits.idle_timeout);
    case Conn::Phase::kWriting:
      return std::min(c.phase_started + limits.reply_deadline,
                      c.last_activity + limits.idle_timeout);
    case Conn::Phase::kLingering:
      return c.phase_started + limits.linger;
    case Conn::Phase::kHandling:
      break;
  }
  return TimePoint::max();
}

void HttpServer::Impl::Accept(TimePoint now) {
  // A bounded batch per round, so that a flood of connections cannot keep
  // the loop from serving the ones it has.
  for (int k = 0; k < 64; ++k) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        accept_paused_until = now + milliseconds(100);  // else poll says "readable" at once
      }
      return;
    }
    ++n_accepted;
    Add(fd, now);
  }
}

void HttpServer::Impl::Add(int fd, TimePoint now) {
  if (conns.size() >= limits.max_connections) {
    // Room for the newcomer: drop the oldest connection that has been
    // answered (lingering), else the oldest that has not sent a whole
    // request; a handler's connection is never dropped.
    Conn* victim = nullptr;
    for (auto& [id, c] : conns) {
      if (c.phase == Conn::Phase::kLingering) {
        victim = &c;
        break;
      }
      if (c.phase == Conn::Phase::kReading && victim == nullptr) victim = &c;
    }
    if (victim == nullptr) {
      ++n_refused;
      const std::string reply = RenderReply(
          refusal(503, Unavailable("the control API has " + std::to_string(limits.max_connections) +
                                   " connections with requests in progress; try again shortly")));
      // Best effort: the client may not read it before the close.
      (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      return;
    }
    if (victim->phase == Conn::Phase::kReading) ++n_evicted;
    Close(*victim);
  }
  const uint64_t id = next_id++;
  conns.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                std::forward_as_tuple(id, fd, now, limits.request));
}

void HttpServer::Impl::OnReadable(Conn& c, TimePoint now) {
  char buf[size_t{64} * 1024];
  const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {  // the client closed, or the connection broke
    Close(c);
    return;
  }
  c.last_activity = now;
  if (c.phase == Conn::Phase::kLingering) return;  // dropped
  HttpRequestReader& r = c.reader;
  const HttpRequestReader::State st = r.Feed(std::string_view(buf, static_cast<size_t>(n)));
  if (r.TakeHeadersDone()) {
    c.head_request = r.request().method == "HEAD";
    std::optional<HttpReply> early = screen(r.request());
    if (!early && r.body_too_large()) {
      early = refusal(413, InvalidSpec(BodyTooLarge(limits.request.max_body)));
    }
    if (early) {  // answered now; the rest of the body is read and dropped while lingering
      Respond(c, *early, now);
      return;
    }
    if (st == HttpRequestReader::State::kBody && r.expects_continue()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(kContinue.size())) {
        Close(c);  // 25 bytes into an empty socket buffer: it failed only if the peer is gone
        return;
      }
    }
  }
  if (st == HttpRequestReader::State::kFailed) {
    Respond(c, refusal(r.error_status(), InvalidSpec(r.error())), now);
  } else if (r.body_too_large()) {  // chunked: found out on the way
    Respond(c, refusal(413, InvalidSpec(BodyTooLarge(limits.request.max_body))), now);
  } else if (st == HttpRequestReader::State::kDone) {
    Dispatch(c, now);
  }
}

void HttpServer::Impl::Dispatch(Conn& c, TimePoint now) {
  c.phase = Conn::Phase::kHandling;
  c.phase_started = now;
  std::shared_ptr<Exchange> x = exchange;
  {
    std::lock_guard<std::mutex> lock(x->mu);
    ++x->running;
  }
  try {
    std::thread([x, handler = handler, refusal = refusal, id = c.id,
                 request = std::move(c.reader.request())] {
      HttpReply reply;
      try {
        reply = handler(request);
      } catch (const std::exception& e) {
        reply = refusal(500, Internal(std::string("internal error: ") + e.what()));
      }
      std::lock_guard<std::mutex> lock(x->mu);
      if (x->open) {
        x->replies.emplace_back(id, std::move(reply));
        Wake(x->wake_fd);
      }
      --x->running;
      x->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    {
      std::lock_guard<std::mutex> lock(x->mu);
      --x->running;
    }
    Respond(c,
            refusal(503, Unavailable(std::string("cannot start a thread for the request (") +
                                     e.what() + "); try again")),
            now);
  }
}

void HttpServer::Impl::TakeReplies(TimePoint now) {
  std::deque<std::pair<uint64_t, HttpReply>> replies;
  {
    std::lock_guard<std::mutex> lock(exchange->mu);
    replies.swap(exchange->replies);
  }
  for (auto& [id, reply] : replies) {
    auto it = conns.find(id);
    if (it != conns.end() && it->second.phase == Conn::Phase::kHandling) {
      Respond(it->second, reply, now);
    }
  }
}

void HttpServer::Impl::Respond(Conn& c, const HttpReply& reply, TimePoint now) {
  c.out = RenderReply(reply, !c.head_request);
  c.sent = 0;
  c.phase = Conn::Phase::kWriting;
  c.phase_started = now;
  c.last_activity = now;
  OnWritable(c, now);  // most replies fit the socket buffer: written now
}

void HttpServer::Impl::OnWritable(Conn& c, TimePoint now) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Close(c);
      return;
    }
    c.sent += static_cast<size_t>(n);
    c.last_activity = now;
  }
  ++n_answered;
  // All written: say so (FIN), then read and drop what the client still
  // sends until it closes, so that the close resets nothing unread.
  ::shutdown(c.fd, SHUT_WR);
  c.out.clear();
  c.out.shrink_to_fit();
  c.phase = Conn::Phase::kLingering;
  c.phase_started = now;
}

void HttpServer::Impl::Drop(Conn& c, int status, const Status& why) {
  ++n_expired;
  // Best effort, one try: a client that reads nothing gets no more time.
  const std::string reply = RenderReply(refusal(status, why));
  (void)::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  Close(c);
}

void HttpServer::Impl::Expire(TimePoint now) {
  const auto secs = [](milliseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(d.count()) / 1000);
    return std::string(buf);
  };
  for (auto it = conns.begin(); it != conns.end();) {
    Conn& c = (it++)->second;
    if (now < DeadlineOf(c)) continue;
    switch (c.phase) {
      case Conn::Phase::kReading:
        if (now >= c.accepted + limits.request_deadline) {
          Drop(c, 408,
               Timeout("the request was not complete " + secs(limits.request_deadline) +
                       " after connecting; send the whole request at once"));
        } else {
          Drop(c, 408,
               Timeout("nothing arrived for " + secs(limits.idle_timeout) +
                       " in the middle of the request; send the whole request at once"));
        }
        break;
      case Conn::Phase::kWriting:
        ++n_expired;
        Close(c);
        break;
      case Conn::Phase::kLingering:
        Close(c);
        break;
      case Conn::Phase::kHandling:
        break;
    }
  }
}

void HttpServer::Impl::Close(Conn& c) {
  const uint64_t id = c.id;  // not a reference into the element erased
  ::close(c.fd);
  conns.erase(id);
}

}  // namespace berth::control
