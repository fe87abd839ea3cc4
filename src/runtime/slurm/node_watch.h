#pragma once
// Noticing within seconds that a node of the job is gone, or its slurmd is.
//
// Slurm itself notices late: slurmctld pings each slurmd every
// SlurmdTimeout/3 and marks a node DOWN (ending its jobs NODE_FAIL) only once
// it has not answered for SlurmdTimeout (300 s by default; 25-29 s with
// SlurmdTimeout=10 on the test cluster). Meanwhile a worker's srun on that
// node waits, and then exits 0. So berth watches through Slurm's own step
// I/O: one more step of the job, one task per node, each printing its node's
// name every kWatchEvery; its srun (berth's child, in its own process group)
// forwards the lines. A node whose line has not come for kNodeSilence is
// lost: the node crashed, was cut off, or its slurmd and its steps were
// killed. The task also asks its node's slurmd (`scontrol show slurmd`, a
// local request) each time and says so when it does not answer: a slurmd
// killed under running steps counts as the node lost too (Slurm can no
// longer start or stop anything there, and will end the job NODE_FAIL). A
// node that never printed (the step could not start there) is not judged:
// Slurm's own detection still applies to it.
//
// Why not a TCP probe of each slurmd from berth's machine: a connection that
// sends no Slurm message makes slurmd log two errors per probe, and a real
// RPC from outside needs munge credentials.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "berth/status.h"

namespace berth::runtime::slurm {

inline constexpr std::chrono::milliseconds kWatchEvery{1000};
inline constexpr std::chrono::milliseconds kNodeSilence{5000};

// The watch step's srun argv for job `job_id` over `nodes`: the components
// `het_groups` (one node each, in the order of `nodes`) or, when empty, a
// plain job over all of them.
std::vector<std::string> WatchStepArgv(const std::string& job_id,
                                       const std::vector<int>& het_groups,
                                       const std::vector<std::string>& nodes);

// What berth says of a node found silent for `quiet`: the cause first (its
// slurmd gone while its task runs, or the node and its steps gone), what
// Slurm calls the node meanwhile (`slurm_says`, "mix"), and the workers lost
// with it (`workers`, "w/1, w/2"; empty: none). `quiet` 0: Slurm called it
// unusable before it fell silent ("down: Not responding").
std::string LostNodeText(const std::string& node, std::chrono::milliseconds quiet, bool slurmd_gone,
                         const std::string& slurm_says, const std::string& workers);

// Which nodes have been silent too long, from the times each was heard.
// Pure: the times come from the caller.
class NodeSilence {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  NodeSilence(std::vector<std::string> nodes, std::chrono::milliseconds limit);
  // A line of the watch step: "NODE" (the node answers) or "NODE slurmd"
  // (its task runs, but its slurmd does not answer: not an answer). Names
  // not watched are ignored.
  void Heard(std::string_view line, TimePoint now);
  // The last line of `node` said its slurmd does not answer.
  bool slurmd_gone(std::string_view node) const;
  // Nodes heard at least once and not for longer than the limit at `now`,
  // with how long, in the order given.
  std::vector<std::pair<std::string, std::chrono::milliseconds>> Silent(TimePoint now) const;
  bool heard_any() const;
  // When `node` was last heard; nullopt when never.
  std::optional<TimePoint> last_heard(std::string_view node) const;

 private:
  std::chrono::milliseconds limit_;
  std::vector<std::string> order_;
  std::map<std::string, TimePoint, std::less<>> last_;  // heard at least once
  std::set<std::string, std::less<>> slurmd_gone_;
};

// The watch step while it runs; destroying it SIGKILLs its srun (its tasks
// end with the job).
class NodeWatch {
 public:
  // `silence`: kNodeSilence but in tests.
  static Result<std::unique_ptr<NodeWatch>> Start(const std::string& job_id,
                                                  const std::vector<int>& het_groups,
                                                  const std::vector<std::string>& nodes,
                                                  std::chrono::milliseconds silence = kNodeSilence);
  ~NodeWatch();
  NodeWatch(const NodeWatch&) = delete;
  NodeWatch& operator=(const NodeWatch&) = delete;

  // As NodeSilence::slurmd_gone.
  bool SlurmdGone(const std::string& node) const;
  // Whether a line from `node` came after `t`.
  bool HeardAfter(const std::string& node, std::chrono::steady_clock::time_point t) const;
  // As NodeSilence::Silent, now; nothing once the step ended.
  std::vector<std::pair<std::string, std::chrono::milliseconds>> Silent() const;
  // Empty while the step runs; once its srun exited, what it said last.
  std::string ended() const;

 private:
  NodeWatch(const std::vector<std::string>& nodes, std::chrono::milliseconds silence, pid_t pid,
            int out, int err, const int wake[2]);
  void Read();

  pid_t pid_;
  int out_;
  int err_;
  int wake_[2];  // written to by the destructor: the reader stops
  mutable std::mutex mu_;
  NodeSilence silence_;   // guarded by mu_
  std::string err_text_;  // guarded by mu_: srun's stderr, its last 4 KiB
  bool eof_ = false;      // guarded by mu_
  std::thread reader_;
};

}  // namespace berth::runtime::slurm
