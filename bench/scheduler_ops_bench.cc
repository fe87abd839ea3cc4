// The Scheduler's operations through the C++ API: the baseline for
// bench/python_overhead.py, which times the same cycle through the Python
// module (bench/python_overhead.sh runs both).
//
//   scheduler_ops_bench --workers N --runs R --demo-worker PATH [--readiness tcp|none]
//
// One cycle per run, on a fresh Scheduler (this machine, N declared CPUs, no
// GPUs; the supervisor's start is not timed):
//   create  CreateWorkers(role "w": N demo workers, shared, 0.01 CPU each,
//           port http, readiness tcp on it or none)
//   get     GetWorkers("w")
//   fork    ForkWorkers("f", "w")  (N more workers, the target's readiness)
//   delete  DeleteWorkers()        (the forks, then "w")
// Prints one line per operation: op=<create|get|fork|delete> median_us=<N> runs=<R>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/scheduler.h"
#include "runtime/local/local_node.h"

namespace {

using Clock = std::chrono::steady_clock;

int Usage(const char* why) {
  std::fprintf(stderr,
               "scheduler_ops_bench: %s\nusage: scheduler_ops_bench --workers N --runs R "
               "--demo-worker PATH [--readiness tcp|none]\n",
               why);
  return 2;
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

template <typename T>
bool Check(const berth::Result<T>& r, const char* what) {
  if (r) return true;
  std::fprintf(stderr, "scheduler_ops_bench: %s: %s\n", what, r.error().message().c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int workers = 16, runs = 10;
  std::string demo, readiness = "tcp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--workers") {
      workers = std::atoi(v.c_str());
    } else if (a == "--runs") {
      runs = std::atoi(v.c_str());
    } else if (a == "--demo-worker") {
      demo = v;
    } else if (a == "--readiness") {
      readiness = v;
    } else {
      return Usage(("unknown argument " + a).c_str());
    }
  }
  if (workers < 1 || runs < 1) return Usage("--workers and --runs must be >= 1");
  if (demo.empty() || access(demo.c_str(), X_OK) != 0) return Usage("--demo-worker PATH needed");
  if (readiness != "tcp" && readiness != "none") return Usage("--readiness is tcp or none");
  demo = std::filesystem::absolute(demo).string();

  berth::runtime::local::LocalOverrides overrides;
  overrides.gpus = 0;
  overrides.cpu = berth::Quantity::Whole(workers);
  overrides.mem_gib = berth::Quantity::Whole(1);
  berth::Result<berth::NodeSpec> node =
      berth::runtime::local::LocalNode(berth::runtime::local::DetectMachine(), overrides);
  if (!Check(node, "local node")) return 1;

  berth::RoleSpec role;
  role.name = "w";
  role.replicas = workers;
  role.placement = berth::PlacementMode::kShared;
  berth::SchedulingSpec spec;
  spec.cpu = berth::Quantity::Units(100);  // 0.01
  spec.ports = {"http"};
  spec.cmd = {demo};
  role.tasks = {spec};
  if (readiness == "tcp") {
    role.readiness.kind = berth::Readiness::Kind::kTcp;
    role.readiness.port = "http";
  }
  role.startup_timeout_s = 60;

  char tmpl[] = "/tmp/berth-bench-cc-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string tmp = tmpl;
  std::vector<double> create, get, fork, del;
  int rc = 0;
  for (int r = 0; r < runs && rc == 0; ++r) {
    berth::SchedulerOptions so;
    so.nodes = {*node};
    so.log_dir = tmp + "/run" + std::to_string(r);
    so.grace = std::chrono::milliseconds(5000);
    auto s = berth::Scheduler::Start(std::move(so));
    if (!Check(s, "start")) {
      rc = 1;
      break;
    }
    berth::Scheduler& sched = **s;
    const auto t0 = Clock::now();
    auto ids = sched.CreateWorkers(role);
    const auto t1 = Clock::now();
    auto got = sched.GetWorkers("w", std::chrono::milliseconds(60000));
    const auto t2 = Clock::now();
    auto forks = sched.ForkWorkers("f", "w");
    const auto t3 = Clock::now();
    berth::Status st = sched.DeleteWorkers();
    const auto t4 = Clock::now();
    if (!Check(ids, "create") || !Check(got, "get") || !Check(forks, "fork")) rc = 1;
    if (!st.ok()) {
      std::fprintf(stderr, "scheduler_ops_bench: delete: %s\n", st.message().c_str());
      rc = 1;
    }
    create.push_back(Us(t1 - t0));
    get.push_back(Us(t2 - t1));
    fork.push_back(Us(t3 - t2));
    del.push_back(Us(t4 - t3));
  }
  std::filesystem::remove_all(tmp);
  if (rc != 0) return rc;
  const std::pair<const char*, std::vector<double>*> ops[] = {
      {"create", &create}, {"get", &get}, {"fork", &fork}, {"delete", &del}};
  for (const auto& [name, v] : ops) {
    std::printf("op=%s median_us=%.0f runs=%d\n", name, Median(*v), runs);
  }
  return 0;
}
