// The floor for `berth run`'s start-up benchmark, and the process supervisor
// measured against it.
//
//   spawn_floor WORKER N
//     The floor: spawn N demo workers directly (fork/exec, one free port
//     each), poll each one's /health until all answer, then SIGTERM them all
//     and wait until they are gone. Prints "ready_ms=... teardown_ms=...".
//   spawn_floor --supervisor WORKER N
//     The same N workers through a ProcessSupervisor, as berth starts them:
//     one SpawnMany (each worker with its own log file and a shared merged
//     log), the same /health polling, then TerminateAll. Prints
//     "ready_ms=... teardown_ms=... spawn_ms=..." (spawn_ms: until SpawnMany
//     returned, every worker exec'd).
//   spawn_floor --supervisor-serial WORKER N
//     The same with one Spawn call per worker (one round trip each).

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "berth/process.h"
#include "roles/ports.h"
#include "scheduler/probe.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Polls every port's /health (as berth run does: 200 ms per probe, a 20 ms
// pause between rounds) until all answer. False after 120 s.
bool WaitHealthy(const std::vector<int>& port, Clock::time_point t0) {
  const size_t n = port.size();
  std::vector<bool> up(n, false);
  size_t pending = n;
  while (pending > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (!up[i] &&
          berth::scheduler::HttpReady("127.0.0.1", port[i], "/health", milliseconds(200))) {
        up[i] = true;
        --pending;
      }
    }
    if (pending > 0) std::this_thread::sleep_for(milliseconds(20));
    if (Clock::now() - t0 > std::chrono::seconds(120)) {
      std::fprintf(stderr, "workers not ready after 120 s\n");
      return false;
    }
  }
  return true;
}

int Floor(const std::string& worker, const std::vector<int>& port) {
  const int n = static_cast<int>(port.size());
  std::vector<int> pid(n);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::string env_port = "BERTH_PORT_HTTP=" + std::to_string(port[i]);
    std::string env_id = "BERTH_WORKER_ID=w/" + std::to_string(i);
    pid[i] = fork();
    if (pid[i] == 0) {
      char* const args[] = {const_cast<char*>(worker.c_str()), nullptr};
      char* const envp[] = {const_cast<char*>(env_port.c_str()), const_cast<char*>(env_id.c_str()),
                            nullptr};
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execve(worker.c_str(), args, envp);
      _exit(127);
    }
  }
  bool ok = WaitHealthy(port, t0);
  auto t1 = Clock::now();
  for (int i = 0; i < n; ++i) kill(pid[i], SIGTERM);
  for (int i = 0; i < n; ++i) waitpid(pid[i], nullptr, 0);
  auto t2 = Clock::now();
  std::printf("ready_ms=%.0f teardown_ms=%.0f\n", Ms(t1 - t0), Ms(t2 - t1));
  return ok ? 0 : 1;
}

int Supervised(const std::string& worker, const std::vector<int>& port, bool serial) {
  // Before any thread exists (the probes start none).
  auto sup = berth::ProcessSupervisor::Start();
  if (!sup) {
    std::fprintf(stderr, "%s\n", sup.error().ToString().c_str());
    return 1;
  }
  char tmpl[] = "/tmp/berth-spawn-bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  std::vector<berth::LaunchSpec> specs;
  for (size_t i = 0; i < port.size(); ++i) {
    const std::string id = "w/" + std::to_string(i);
    specs.push_back({.id = id,
                     .argv = {worker},
                     .env = {{"BERTH_PORT_HTTP", std::to_string(port[i])}, {"BERTH_WORKER_ID", id}},
                     .log_path = dir + "/logs/w-" + std::to_string(i) + ".log",
                     .merged_log_path = dir + "/merged.log"});
  }
  auto t0 = Clock::now();
  if (serial) {
    for (const berth::LaunchSpec& spec : specs) {
      auto pid = (*sup)->Spawn(spec);
      if (!pid) {
        std::fprintf(stderr, "%s\n", pid.error().ToString().c_str());
        return 1;
      }
    }
  } else {
    auto pids = (*sup)->SpawnMany(specs);
    if (!pids) {
      std::fprintf(stderr, "%s\n", pids.error().ToString().c_str());
      return 1;
    }
  }
  auto ts = Clock::now();
  bool ok = WaitHealthy(port, t0);
  auto t1 = Clock::now();
  berth::Status s = (*sup)->TerminateAll(milliseconds(10'000));
  auto t2 = Clock::now();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    ok = false;
  }
  if ((*sup)->PollExits().size() != specs.size()) {
    std::fprintf(stderr, "not every worker's exit was reported\n");
    ok = false;
  }
  (void)(*sup)->Shutdown(milliseconds(1000));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::printf("ready_ms=%.0f teardown_ms=%.0f spawn_ms=%.0f\n", Ms(t1 - t0), Ms(t2 - t1),
              Ms(ts - t0));
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 4 ? argv[1] : "";
  const bool supervisor = mode == "--supervisor" || mode == "--supervisor-serial";
  if (argc != 3 && !supervisor) {
    std::fprintf(stderr, "usage: spawn_floor [--supervisor|--supervisor-serial] WORKER N\n");
    return 2;
  }
  const std::string worker = argv[argc - 2];
  const int n = std::atoi(argv[argc - 1]);
  berth::PortSource ports = berth::roles::LocalFreePorts();
  std::vector<int> port(n);
  for (int i = 0; i < n; ++i) {
    auto p = ports("local");
    if (!p) {
      std::fprintf(stderr, "no port: %s\n", p.error().message().c_str());
      return 1;
    }
    port[i] = *p;
  }
  return supervisor ? Supervised(worker, port, mode == "--supervisor-serial") : Floor(worker, port);
}
