#pragma once
// What Slurm's commands print, read into berth's types. Pure functions: no
// process is started and nothing is read from disk; the Slurm backend runs
// the commands (with the formats below) and hands their output here.
//
// Why text with explicit separators rather than `sinfo --json`/`squeue
// --json`: the -O field names and their output have been the same from Slurm
// 20.11 to 24.x, while the JSON schema changed with every release (22.05 prints
// openapi v0.0.38; 23.02 turned "state" into a list and numbers into
// {"set", "number"} objects), and --json ignores -j/-n filters and is about six
// times slower (0.12 s against 0.02 s per call on the test cluster). Every
// field is given a "|" suffix: with a suffix and no width, -O neither pads nor
// truncates. Node, partition, state and gres text never holds a "|"; the one
// field that may (a free-text reason or name) is put last, and the parsers
// give it the rest of the line.
//
// Checked against Slurm 22.05.8 (Debian 12), samples in testdata/slurm/.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "berth/placement.h"
#include "berth/status.h"

namespace berth::runtime::slurm {

// ---------------------------------------------------------------- formats

// sinfo -N -h -O <kSinfoFormat>: one line per node and partition. List every
// node and filter here: with -n, sinfo 22.05 asks for single nodes, and that
// answer can carry the allocations of an earlier full listing (a node set
// DOWN right after its job was killed showed "mix*" with -n, "down*" without).
inline constexpr std::string_view kSinfoFormat =
    "NodeList:|,Partition:|,StateCompact:|,CPUs:|,Memory:|,AllocMem:|,CPUsState:|,Gres:|,"
    "GresUsed:|,NodeAddr:|,Features:|,Reason:|";
// squeue -h -t all [-j IDS] -O <kSqueueFormat>: one line per job (a
// heterogeneous job has one per component; an array one per task).
inline constexpr std::string_view kSqueueFormat =
    "JobID:|,JobArrayID:|,HetJobID:|,HetJobOffset:|,State:|,NumNodes:|,NodeList:|,Reason:|";
// squeue -s -h [-j IDS] -O <kSqueueStepsFormat>: one line per running step.
// Slurm 22.05 without accounting lists running steps only: a step that ended
// is simply absent.
inline constexpr std::string_view kSqueueStepsFormat =
    "StepID:|,StepState:|,Nodes:|,NumTasks:|,StepName:|";

// The argument vectors (without the program's path) that produce them.
std::vector<std::string> SinfoArgs();
std::vector<std::string> SqueueJobArgs(const std::vector<std::string>& job_ids);
std::vector<std::string> SqueueStepArgs(const std::vector<std::string>& job_ids);

// ---------------------------------------------------------------- hostlists, indices, gres

// "node[1-3,5],gpu07" -> node1 node2 node3 node5 gpu07. Zero padding is kept
// ("n[08-10]" -> n08 n09 n10), several brackets multiply ("r[1-2]n[1-2]" ->
// r1n1 r1n2 r2n1 r2n2), commas and spaces separate names. Order and
// duplicates are kept, as Slurm prints them. At most kMaxHosts names.
inline constexpr size_t kMaxHosts = 100000;
Result<std::vector<std::string>> ExpandHostlist(std::string_view hostlist);

// "0,1,4-5" (SLURM_STEP_GPUS, SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES of plain
// indices) -> 0 1 4 5, ascending, no duplicates. Empty text is no index.
// Indices are below kMaxIndex. Errors name `source`.
inline constexpr int kMaxIndex = 1 << 16;
Result<std::vector<int>> ParseIndexList(std::string_view text, std::string_view source);

// One generic resource: "gpu:a100:4(S:0-1)" or "gpu:2(IDX:0-1)".
struct Gres {
  std::string name;          // "gpu"
  std::string type;          // "a100", or empty
  int64_t count = 0;         // K, M, G suffixes multiply by 1024^n
  bool has_indices = false;  // an IDX part was present ("IDX:N/A" has none)
  std::vector<int> indices;  // from IDX, ascending
  bool operator==(const Gres&) const = default;
};
// A node's Gres or GresUsed, or a job's gres_detail: entries separated by
// commas outside parentheses. "(null)" and empty text are no entry.
// ("no_consume" between name and count is skipped.)
Result<std::vector<Gres>> ParseGres(std::string_view text, std::string_view source);
// The GPU indices in gres_detail text ("gpu:2(IDX:0-1)", "gpu:a100:1(IDX:0),
// gpu:v100:2(IDX:4-5)"), ascending. Entries of other names are ignored.
Result<std::vector<int>> ParseGpuIndices(std::string_view gres_detail, std::string_view source);

// ---------------------------------------------------------------- nodes

// A node's base state, from sinfo's compact form ("idle", "mix", "down*",
// "drng", "plnd", "idle~").
enum class NodeState {
  kIdle,
  kMixed,
  kAllocated,
  kCompleting,
  kPlanned,  // can take work
  kDown,
  kDrained,
  kDraining,
  kFail,
  kFailing,
  kInvalid,
  kMaint,
  kReserved,
  kRebooting,
  kPoweredDown,
  kPoweringDown,
  kPoweringUp,
  kFuture,
  kBlocked,
  kUnknown,
  kOther,  // not known to berth: see the text
};
// "IDLE", "MIXED", ..., "OTHER".
const char* NodeStateName(NodeState s);

struct NodeStatus {
  NodeState state = NodeState::kUnknown;
  std::string text;             // as sinfo printed it
  bool not_responding = false;  // "*": slurmd does not answer
  bool usable = false;          // Slurm can start new work there now or soon
  std::string unusable_reason;  // why not: "down, not responding", "draining"
};
// Never fails: unknown text is kOther, unusable, and kept verbatim.
NodeStatus ParseNodeState(std::string_view compact);

struct SlurmNode {
  // name; CPU, GPU (when any) and memory in bytes; labels "address",
  // "partition" (comma-separated, sinfo's order), "state" (compact text),
  // "gpu_type" (when the GPUs are typed; comma-separated when mixed) and
  // "features" (when any).
  NodeSpec spec;
  NodeStatus status;
  std::vector<std::string> partitions;
  std::string default_partition;  // the one marked "*", when it holds this node
  std::string reason;             // Slurm's, empty for none
  int64_t alloc_cpus = 0;
  int64_t alloc_memory_bytes = 0;
  int64_t gpus_used = 0;
  std::vector<int> gpus_used_indices;  // when Slurm printed them (typed GPUs)
};
// Parses sinfo -N -h -O kSinfoFormat. A node in several partitions is one
// entry (first-seen order). Nodes that are down, drained, invalid and so on
// are listed with status.usable false, so that the planner can leave them out
// and say why. Errors name `source`, the line and the field.
Result<std::vector<SlurmNode>> ParseSinfo(std::string_view text, std::string_view source);

// ---------------------------------------------------------------- jobs and steps

enum class JobState {
  kPending,
  kConfiguring,
  kRunning,
  kSuspended,
  kCompleting,
  kResizing,
  kRequeued,
  kCompleted,
  kCancelled,
  kFailed,
  kTimeout,
  kOutOfMemory,
  kNodeFail,
  kBootFail,
  kDeadline,
  kPreempted,
  kOther,  // not known to berth: see the text
};
// "PENDING", "NODE_FAIL", ..., "OTHER".
const char* JobStateName(JobState s);
// squeue's long names (sacct's "CANCELLED by 0" too). Never fails.
JobState ParseJobState(std::string_view text);
// Completed, cancelled, failed, timeout, out of memory, node or boot failure,
// deadline, preempted: nothing of the job runs any more.
bool IsFinal(JobState s);

struct SlurmJob {
  std::string job_id;      // "14"
  std::string display_id;  // "14", "13+1" (het component), "10_2" (array task)
  std::string het_job_id;  // "13", or empty
  int het_offset = -1;     // 1, or -1
  JobState state = JobState::kOther;
  std::string state_text;  // "NODE_FAIL"
  std::string reason;      // "Resources", empty for None
  int64_t node_count = 0;  // requested while pending, then allocated
  std::string nodelist;    // "node[1-2]", empty while pending
  std::vector<std::string> nodes;
};
// Parses squeue -h -O kSqueueFormat.
Result<std::vector<SlurmJob>> ParseSqueue(std::string_view text, std::string_view source);

struct SlurmStep {
  std::string step_id;  // "9.0", "9.batch", "10_3.batch", "13+1.0"
  std::string job_id;   // "9", "10_3", "13+1"
  std::string step;     // "0", "batch", "extern", "interactive"
  JobState state = JobState::kOther;
  std::string state_text;
  std::string nodelist;
  std::vector<std::string> nodes;
  int64_t tasks = 0;
  std::string name;
};
// Parses squeue -s -h -O kSqueueStepsFormat.
Result<std::vector<SlurmStep>> ParseSqueueSteps(std::string_view text, std::string_view source);

// What a failed Slurm client call means for the caller, from its exit code
// and stderr: "Invalid job id specified" is kNotFound (the job ended longer
// than MinJobAge ago, or never was); a controller that cannot be reached, a
// time-out (exit 124 from timeout(1)) or "Socket timed out" is kUnavailable;
// anything else is kBackend. The message holds `command` and the stderr's
// last line.
Status ClientError(std::string_view command, int exit_code, std::string_view stderr_text);

}  // namespace berth::runtime::slurm
