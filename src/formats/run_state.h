#pragma once
// The run directory's state file: what `berth run` started, so that
// `berth status RUN_DIR` and `berth down RUN_DIR` work from another terminal.
// Written atomically (a temporary file renamed over the old one), so a
// reader never sees half a file.

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "berth/status.h"

namespace berth::formats {

enum class WorkerState { kPlanned, kStarting, kReady, kExited, kFailed, kStopping, kStopped };
const char* WorkerStateName(WorkerState s);  // "planned", "starting", "ready", ...

struct WorkerRecord {
  std::string id;
  std::string role;
  int index = 0;
  std::string node;
  std::string gpus;  // "0,1" (CUDA_VISIBLE_DEVICES), "" when none
  std::vector<std::pair<std::string, int>> ports;
  int pid = -1;
  WorkerState state = WorkerState::kPlanned;
  int restarts = 0;
  std::string exit;  // "exited with code 3", once it ended
  std::string log;   // path of its log file
  bool operator==(const WorkerRecord&) const = default;
};

// A further Slurm job of a run: one submitted after a node was lost, for
// the units that the first job could no longer hold. Its holder script, log
// and heartbeat are in its own folder of the run dir.
struct FurtherSlurmJob {
  std::string id;
  std::string dir;  // relative to the run dir: "further-1"
  bool operator==(const FurtherSlurmJob&) const = default;
};

struct RunState {
  std::string experiment;
  std::string run_dir;
  int berth_pid = -1;
  std::string phase;    // "starting", "running", "stopping", "stopped", "failed"
  std::string message;  // why it failed, when it did
  // What outlives a berth killed with SIGKILL, for the next `berth down` or
  // `berth run` on the directory to end: the run's cgroup v2 directory
  // ("" when workers run without one) and the Slurm job holding its
  // allocation ("" when local).
  std::string cgroup;
  std::string slurm_job;
  std::vector<FurtherSlurmJob> further_slurm_jobs;
  std::vector<WorkerRecord> workers;
  bool operator==(const RunState&) const = default;
};

// The RunState as JSON, ports as [{"name", "port"}] (state.json) or as
// {name: port} (GET /v1/status of the control API).
enum class PortShape { kList, kMap };
nlohmann::ordered_json RunStateToJson(const RunState& state, PortShape shape);
// The reverse, ports in either shape. Errors (kInvalidSpec) start with
// `where` (the file, or "status").
Result<RunState> RunStateFromJson(const nlohmann::json& j, const std::string& where);

// <run_dir>/state.json
std::string StatePath(const std::string& run_dir);
// To StatePath(state.run_dir), atomically: through state.json.tmp.<pid>,
// renamed over it. Nothing in the run dir is followed: a symbolic link at
// either name is refused (kInvalidSpec, naming it) and nothing is written
// through it. `run_dir_fd`: the run dir already open (berth run holds it
// locked); -1 opens state.run_dir.
Status WriteState(const RunState& state, int run_dir_fd = -1);
Result<RunState> ReadState(const std::string& run_dir);

// A fixed-width table: ROLE ID NODE GPUS PID PORTS STATE RESTARTS.
std::string RenderTable(const RunState& state);

// Each role's health, a line each under "roles:": ok (every worker
// ready), degraded (some, after a failure, a restart or a drop), failed
// (none ready, one failed), done (every worker exited 0) or starting; with
// how many are ready and the restarts. "" without workers.
std::string RenderRoleHealth(const RunState& state);

}  // namespace berth::formats
