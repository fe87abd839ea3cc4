// The floor for `berth run`'s start-up benchmark: spawn N demo workers
// directly (fork/exec, one free port each), poll each one's /health until all
// answer, then SIGTERM them all and wait until they are gone. Prints
// "ready_ms=... teardown_ms=...". Usage: spawn_floor WORKER N

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "roles/ports.h"
#include "run/probe.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: spawn_floor WORKER N\n");
    return 2;
  }
  const std::string worker = argv[1];
  const int n = std::atoi(argv[2]);
  using Clock = std::chrono::steady_clock;
  berth::PortSource ports = berth::roles::LocalFreePorts();
  std::vector<int> port(n), pid(n);
  for (int i = 0; i < n; ++i) {
    auto p = ports("local");
    if (!p) {
      std::fprintf(stderr, "no port: %s\n", p.error().message().c_str());
      return 1;
    }
    port[i] = *p;
  }
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
  std::vector<bool> up(n, false);
  int pending = n;
  while (pending > 0) {
    for (int i = 0; i < n; ++i) {
      if (!up[i] && berth::run::HttpReady("127.0.0.1", port[i], "/health",
                                          std::chrono::milliseconds(200))) {
        up[i] = true;
        --pending;
      }
    }
    if (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Clock::now() - t0 > std::chrono::seconds(120)) {
      std::fprintf(stderr, "workers not ready after 120 s\n");
      break;
    }
  }
  auto t1 = Clock::now();
  for (int i = 0; i < n; ++i) kill(pid[i], SIGTERM);
  for (int i = 0; i < n; ++i) waitpid(pid[i], nullptr, 0);
  auto t2 = Clock::now();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("ready_ms=%.0f teardown_ms=%.0f\n", ms(t1 - t0), ms(t2 - t1));
  return pending == 0 ? 0 : 1;
}
