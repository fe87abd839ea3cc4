// A stand-in for berth, for tests/runtime/no_orphans_test.cc: starts a
// ProcessSupervisor and 3 workers whose grandchildren escape (setsid, double
// fork), prints "ready <token> <supervisor pid>" once all are up, then ends
// the way `mode` says:
//   kill         waits (up to 60 s) for the test to SIGKILL it
//   return       returns from main; the ProcessSupervisor destructor runs
//   leak-return  returns from main with the supervisor leaked (no destructor)
//   exit1        calls exit(1) with workers running (no destructor)
// Usage: orphan_harness <mode> <log dir>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "berth/process.h"
#include "runtime/local/proc_scan.h"

// Where leak-return parks the supervisor: a global with external linkage, so
// the store is kept and LeakSanitizer sees the object as reachable.
berth::ProcessSupervisor* g_leaked_supervisor = nullptr;

namespace {

int Fail(const std::string& why) {
  std::fprintf(stderr, "orphan_harness: %s\n", why.c_str());
  return 2;
}

struct Census {
  int per_worker[3] = {0, 0, 0};  // live processes marked as worker i
  int adopted = 0;                // marked, with the supervisor as parent
  int session_leaders = 0;        // marked, leading a session (setsid)
};

Census Count(const std::string& token, int supervisor) {
  Census c;
  for (const auto& p : berth::runtime::local::ListProcesses()) {
    if (p.zombie()) continue;
    auto m = berth::runtime::local::ReadEnvVar(p.pid, berth::kSupervisorTokenVar);
    if (!m) continue;
    for (int i = 0; i < 3; ++i) {
      const std::string want = token + "/w" + std::to_string(i);
      if (*m != want) continue;
      ++c.per_worker[i];
      c.adopted += p.ppid == supervisor;
      c.session_leaders += p.sid == p.pid;
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return Fail("usage: orphan_harness <kill|return|leak-return|exit1> <log dir>");
  const std::string mode = argv[1];
  const std::string dir = argv[2];
  if (mode != "kill" && mode != "return" && mode != "leak-return" && mode != "exit1") {
    return Fail("unknown mode " + mode);
  }
  berth::SupervisorOptions opts;
  opts.grace = std::chrono::milliseconds(1000);
  auto sup = berth::ProcessSupervisor::Start(opts);
  if (!sup) return Fail(sup.error().ToString());

  // Each worker leaves: a grandchild in a new session, a double-forked
  // grandchild re-parented away from it, and a child of its own.
  // w0 alone (Spawn), w1 and w2 as one batch (SpawnMany).
  const char* script = "setsid sh -c 'sleep 1000' & (sleep 1000 &) ; sleep 1000";
  std::vector<berth::LaunchSpec> specs;
  for (int i = 0; i < 3; ++i) {
    const std::string id = std::string("w").append(std::to_string(i));
    specs.push_back({.id = id,
                     .argv = {"/bin/sh", "-c", script},
                     .env = {{"PATH", "/usr/bin:/bin"}},
                     .cwd = dir,
                     .log_path = dir + "/" + id + ".log"});
  }
  auto pid = (*sup)->Spawn(specs[0]);
  if (!pid) return Fail(pid.error().ToString());
  auto pids = (*sup)->SpawnMany({specs[1], specs[2]});
  if (!pids) return Fail(pids.error().ToString());
  // Up: per worker its sh, the setsid'd grandchild (leading a session), the
  // double-forked one (adopted by the supervisor) and its own sleep.
  const std::string& token = (*sup)->token();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    Census c = Count(token, (*sup)->supervisor_pid());
    if (c.per_worker[0] >= 4 && c.per_worker[1] >= 4 && c.per_worker[2] >= 4 && c.adopted >= 6 &&
        c.session_leaders >= 3) {
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return Fail("workers did not come up");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("ready %s %d\n", token.c_str(), (*sup)->supervisor_pid());
  std::fflush(stdout);

  if (mode == "kill") {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 3;
  }
  if (mode == "exit1") std::exit(1);
  if (mode == "leak-return") g_leaked_supervisor = sup->release();
  return 0;
}
