#pragma once
// Supervisor: the supervisor process's state, shared by its loop, requests and teardowns.

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/local/escalation.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/wire.h"
#include "runtime/local/worker_output.h"

namespace berth::runtime::local {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bounds the work done for one readable pipe per loop turn.
inline constexpr int kReadChunksPerTurn = 16;

// A line on stderr, "berth-supervisor[PID]: what".
void Complain(const std::string& what);

struct Worker {
  std::string id;
  pid_t pid = -1;  // also its process group
  std::string marker;
  bool exited = false;  // reaped
  // Started by a batch that failed and is being undone: no exit event, and
  // the id is forgotten once its processes are gone.
  bool rolling_back = false;
  std::unique_ptr<WorkerOutput> output;
};

struct Teardown {
  uint64_t req = 0;  // 0: nobody waits for a reply
  bool all = false;
  bool final = false;  // the supervisor exits when it is done
  // Undoes a failed spawn batch: the reply is a kSpawned carrying this error.
  bool rollback = false;
  Status rollback_error;
  std::vector<std::string> ids;
  Escalation escalation;  // when to rescan, SIGKILL, give up
  // Already sent SIGTERM, with the program's name then (see ScanAndSignal).
  std::map<std::pair<pid_t, uint64_t>, std::string> termed;
  std::set<pid_t> termed_workers;  // worker main processes sent SIGTERM
  // Targets seen alive at the last scan that are not worker main processes
  // (those are followed by reaping them).
  std::vector<ProcInfo> known;
};

class Supervisor {
 public:
  Supervisor(int sock, int sigfd, SupervisorOptions options, std::string token, pid_t parent,
             std::optional<struct rlimit> child_nofile, std::string cgroup)
      : sock_(sock),
        sigfd_(sigfd),
        opts_(std::move(options)),
        token_(std::move(token)),
        parent_(parent),
        child_nofile_(child_nofile),
        cgroup_(std::move(cgroup)) {}

  [[noreturn]] void Run();

 private:
  void ReadSignals();
  void ReadSocket();
  void HandleFrame(const std::string& body);
  void HandleSpawn(uint64_t req, std::vector<LaunchSpec> specs);
  void HandleTerminate(uint64_t req, bool all, std::vector<std::string> ids, int64_t grace_ms);
  void BeginFinal(milliseconds grace, uint64_t req);
  void StartTeardown(Teardown td, milliseconds grace);
  bool Reap();  // true if it reaped any child
  // Moves the terminations on: signals at their start, at the end of their
  // grace period and to newcomers; finishes those whose processes are gone.
  // `reaped`: a child was reaped this turn.
  void AdvanceTeardowns(bool reaped);
  // Scans /proc for td's targets and signals them as its phase says;
  // `full` also reads the markers of processes outside our subtree.
  std::vector<ProcInfo> ScanAndSignal(Teardown& td, bool full);
  // Signals td's unreaped worker main processes, without scanning.
  void SignalWorkers(Teardown& td);
  // Sends SIGKILL, or SIGTERM and SIGCONT once, to an unreaped worker main
  // process: a plain kill(), as its pid cannot be reused before we reap it.
  static void SignalWorker(Teardown& td, pid_t pid);
  std::vector<ProcInfo> Targets(const Teardown& td, bool full);
  bool WorkersExited(const Teardown& td) const;
  // Without scanning: td's workers are reaped and what the last scan found is
  // gone (in `all` mode: and the supervisor has no child left).
  bool LooksDone(Teardown& td);
  void Finish(const Teardown& td, const Status& status);
  void Reply(uint64_t req, int32_t value, const Status& status);
  void ReplySpawned(uint64_t req, const std::vector<int32_t>& pids, const Status& status);
  void Send(const std::string& frame);
  void FlushOut();
  void LoseParent(const std::string& why);
  [[noreturn]] void Exit();

  int sock_;
  int sigfd_;
  SupervisorOptions opts_;
  std::string token_;
  pid_t parent_;
  std::optional<struct rlimit> child_nofile_;  // berth's RLIMIT_NOFILE, for workers
  std::string cgroup_;                         // ours, removed at the end; "" for none
  FrameBuffer in_;
  std::string out_;
  size_t out_pos_ = 0;
  std::map<std::string, Worker> workers_;
  std::unordered_map<pid_t, std::string> by_pid_;  // unreaped worker pids
  std::list<Teardown> teardowns_;
  bool parent_gone_ = false;  // acted on at the end of a loop turn
  bool term_requested_ = false;
  bool final_started_ = false;
  bool exit_now_ = false;
  bool no_children_ = true;  // the last waitpid(-1) said ECHILD
  int exit_code_ = 0;
};

}  // namespace berth::runtime::local
