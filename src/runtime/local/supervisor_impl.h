#pragma once
// ProcessSupervisor::Impl, berth's end of the connection to the supervisor process.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "berth/process.h"
#include "berth/status.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/wire.h"

namespace berth {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace runtime::local {

// Slack on top of the supervisor's own bounds before berth stops waiting.
inline constexpr milliseconds kReplySlack{3000};

// poll()'s timeout until `deadline`: 0 once it has passed, else the
// milliseconds left (at most a minute) plus one.
int MsLeft(SteadyClock::time_point deadline);

}  // namespace runtime::local

using runtime::local::ErrnoText;
using runtime::local::FrameBuffer;
using runtime::local::kReplySlack;
using runtime::local::MsgType;
using runtime::local::MsLeft;
using runtime::local::WireReader;
using runtime::local::WireWriter;

struct ProcessSupervisor::Impl {
  struct Reply {
    int32_t value = 0;
    std::vector<int32_t> values;  // kSpawned: the pids
    Status status;
  };
  struct WorkerState {
    int pid = -1;
    bool alive = true;
  };

  SupervisorOptions opts;
  pid_t pid = -1;
  std::string token;
  std::string cgroup;              // the supervisor's own cgroup, "" when none
  std::string cgroup_unavailable;  // why there is none although one was asked for
  bool cgroup_ended = false;       // EndCgroup ran

  std::mutex mu;
  int fd = -1;
  int wake_read = -1;  // Wake() writes a byte to wake_write; WaitExit polls wake_read
  int wake_write = -1;
  FrameBuffer in;
  std::deque<ExitEvent> exits;
  std::map<std::string, WorkerState> workers;
  uint64_t next_req = 1;
  uint64_t awaiting = 0;
  std::optional<Reply> reply;
  bool eof = false;            // the supervisor closed the connection
  bool shutting_down = false;  // EOF is expected
  bool shut_down = false;
  bool reaped = false;
  std::string end;   // once reaped, how it ended: "killed by signal 9 (SIGKILL)"
  std::string lost;  // why the supervisor is gone, when it went away on its own
  Status shutdown_status;

  ~Impl();

  Status Gone() const;

  // Reads whatever the socket holds and handles the frames.
  void ReadAvailable();

  // Waits until the socket is readable or `deadline`, then reads.
  void Pump(SteadyClock::time_point deadline);
  // Pump, but true (having read the pipe empty) as soon as Wake() was called.
  bool PumpOrWake(SteadyClock::time_point deadline);

  bool Dispatch(const std::string& body);

  void OnProtocolError();

  void OnEof(const std::string& why);

  void KillMarked() const;

  // Once the supervisor is gone: kills what is left in its cgroup (saying so
  // on stderr, as berth's guarantee was broken) and removes it. The error
  // when something was left or it could not be removed.
  Status EndCgroup();

  // Waits up to `wait` for the supervisor to be reaped.
  void ReapSupervisor(milliseconds wait);

  Status SendFrame(const std::string& frame, SteadyClock::time_point deadline);

  Result<Reply> Call(const std::string& frame, uint64_t req, milliseconds timeout);

  Status DoShutdown(milliseconds grace);
};

}  // namespace berth
