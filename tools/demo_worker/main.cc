// berth-demo-worker: the worker the bundled example experiment runs.
//
// It serves every port berth gave it (BERTH_PORT_<NAME>) over HTTP:
//   GET /health  -> {"status": "healthy", "id": ..., "pid": ...}
//   GET /env     -> the whole environment it was started with, as JSON
// and exits 0 on SIGTERM or SIGINT. Flags make it misbehave on purpose, for
// tests and demos:
//   --startup-delay SECONDS   wait before listening (slow start)
//   --exit-after SECONDS      exit with --exit-code after this long (a crash later)
//   --exit-code N             the code for --exit-after (default 1)
//   --ignore-sigterm          keep running on SIGTERM (tests the SIGKILL path)

#include <httplib.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigtimedwait, sigwait
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX: the program declares it

namespace {

struct Options {
  double startup_delay = 0;
  double exit_after = -1;
  int exit_code = 1;
  bool ignore_sigterm = false;
};

bool ParseDouble(const char* text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text, &end);
  return end != text && *end == '\0' && *out >= 0;
}

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "berth-demo-worker: %s\nusage: berth-demo-worker [--startup-delay S] "
               "[--exit-after S] [--exit-code N] [--ignore-sigterm]\n",
               why.c_str());
  return 2;
}

nlohmann::json Environment() {
  nlohmann::json env = nlohmann::json::object();
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    env[std::string(*e, static_cast<size_t>(eq - *e))] = std::string(eq + 1);
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](double* out) { return i + 1 < argc && ParseDouble(argv[++i], out); };
    if (a == "--startup-delay") {
      if (!value(&opt.startup_delay)) return Usage("--startup-delay needs seconds >= 0");
    } else if (a == "--exit-after") {
      if (!value(&opt.exit_after)) return Usage("--exit-after needs seconds >= 0");
    } else if (a == "--exit-code") {
      double code;
      if (!value(&code) || code > 255) return Usage("--exit-code needs 0..255");
      opt.exit_code = static_cast<int>(code);
    } else if (a == "--ignore-sigterm") {
      opt.ignore_sigterm = true;
    } else {
      return Usage("unknown argument \"" + a + "\"");
    }
  }
  // The stop signals are blocked in every thread (the server threads inherit
  // the mask) and taken by the main thread with sigtimedwait: an idle worker
  // sleeps in the kernel instead of waking up to poll a flag (hundreds of
  // workers polling at 100 Hz cost whole cores on a small machine).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  if (opt.ignore_sigterm) {
    std::signal(SIGTERM, SIG_IGN);
  } else {
    sigaddset(&stop_signals, SIGTERM);
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const char* id_env = std::getenv("BERTH_WORKER_ID");
  std::string id = id_env ? id_env : "unknown";
  std::vector<std::pair<std::string, int>> ports;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (kv.rfind("BERTH_PORT_", 0) != 0) continue;
    size_t eq = kv.find('=');
    int port = std::atoi(kv.c_str() + eq + 1);
    if (port <= 0 || port > 65535) {
      std::fprintf(stderr, "berth-demo-worker: %s is not a port\n", kv.c_str());
      return 2;
    }
    ports.emplace_back(kv.substr(11, eq - 11), port);
  }

  const auto start = std::chrono::steady_clock::now();
  // Waits for a stop signal until `seconds` after the start (< 0: for ever);
  // true when one came.
  auto stopped_by = [&](double seconds) {
    for (;;) {
      if (seconds < 0) {
        int sig = 0;
        if (sigwait(&stop_signals, &sig) == 0) return true;
        continue;
      }
      const double left =
          seconds - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (left <= 0) return false;
      timespec ts;
      ts.tv_sec = static_cast<time_t>(left);
      ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>((left - static_cast<double>(ts.tv_sec)) * 1e9);
      if (sigtimedwait(&stop_signals, nullptr, &ts) > 0) return true;
      if (errno == EAGAIN) return false;  // EINTR: wait for the rest
    }
  };
  bool stop = opt.startup_delay > 0 && stopped_by(opt.startup_delay);

  if (stop) {
    std::printf("berth-demo-worker %s: stopped\n", id.c_str());
    return 0;
  }
  std::vector<std::unique_ptr<httplib::Server>> servers;
  std::vector<std::thread> threads;
  const char* host_env = std::getenv("BERTH_BIND_ADDR");
  std::string host = host_env ? host_env : "127.0.0.1";
  for (const auto& [name, port] : ports) {
    auto svr = std::make_unique<httplib::Server>();
    // One thread per port is plenty for a health probe; the default pool
    // would start a thread per core in each of hundreds of workers.
    svr->new_task_queue = [] { return new httplib::ThreadPool(1); };
    std::string port_name = name;
    svr->Get("/health", [id, port_name](const httplib::Request&, httplib::Response& res) {
      nlohmann::json body = {{"status", "healthy"},
                             {"id", id},
                             {"port", port_name},
                             {"pid", static_cast<int>(getpid())}};
      res.set_content(body.dump(), "application/json");
    });
    svr->Get("/env", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(Environment().dump(), "application/json");
    });
    if (!svr->bind_to_port(host, port)) {
      std::fprintf(stderr, "berth-demo-worker %s: cannot listen on %s:%d (port %s): %s\n",
                   id.c_str(), host.c_str(), port, name.c_str(), std::strerror(errno));
      return 3;
    }
    threads.emplace_back([s = svr.get()] { s->listen_after_bind(); });
    servers.push_back(std::move(svr));
  }
  std::printf("berth-demo-worker %s: pid %d serving %zu port(s)", id.c_str(),
              static_cast<int>(getpid()), ports.size());
  for (const auto& [name, port] : ports) std::printf(" %s=%d", name.c_str(), port);
  std::printf("\n");
  std::fflush(stdout);

  if (!stopped_by(opt.exit_after)) {
    std::fprintf(stderr, "berth-demo-worker %s: exiting with code %d as asked\n", id.c_str(),
                 opt.exit_code);
    std::fflush(stderr);
    std::_Exit(opt.exit_code);
  }
  for (auto& s : servers) s->stop();
  for (auto& t : threads) t.join();
  std::printf("berth-demo-worker %s: stopped\n", id.c_str());
  return 0;
}
