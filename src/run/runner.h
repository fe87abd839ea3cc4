#pragma once
// `berth run`, `berth status` and `berth down`: an experiment's workers as
// local processes, started role by role (targets before the roles colocated
// on them), watched, and torn down in order (colocated roles first, then
// their owners; within a role, rank 0 last).

#include <optional>
#include <string>

namespace berth::run {

struct RunOptions {
  std::string experiment_path;
  std::string run_dir;       // default: the experiment's, else berth-runs/<name>-<time>
  std::string backend;       // "local" or "slurm"; empty: the experiment's
  double grace_s = 5.0;      // SIGTERM -> SIGKILL, per teardown stage
  bool status_table = true;  // print the status table once all are up
};

// Exit codes: 0 when stopped on request (Ctrl-C, SIGTERM, `berth down`) or
// when every worker exited 0; a failing worker's exit code (128+signal when
// a signal killed it); 1 for a worker that never became ready or for a
// runtime error; 2 for bad input; 3 when the experiment does not fit.
int RunExperiment(const RunOptions& options);

// Prints the run's status table from RUN_DIR/state.json.
int ShowStatus(const std::string& run_dir);
// Prints the URL of the run's status page with its token in the fragment
// (`berth status --web`); exit 2 when berth does not run there.
int ShowStatusWeb(const std::string& run_dir);

// Prints RUN_DIR/events.jsonl (docs/experiment.md), one event a line, or
// the lines as written with `json`; with `follow`, then what is appended
// until the run's berth exits.
int ShowEvents(const std::string& run_dir, bool follow, bool json);

// Grows or shrinks ROLE of the `berth run` of RUN_DIR to `replicas`
// instances (its control API), waiting until the new ones are ready (each
// worker's startup timeout, or `timeout_s` for all). Exit codes: 0 done; 2
// bad input (no such role, one that cannot be scaled, berth not running
// there); 3 the new instances do not fit (explained); 1 otherwise.
int Scale(const std::string& run_dir, const std::string& role, int replicas,
          std::optional<double> timeout_s);

// Asks the `berth run` of RUN_DIR to tear down (SIGTERM) and waits up to
// `timeout_s` for it and its workers to be gone.
int Down(const std::string& run_dir, double timeout_s);

}  // namespace berth::run
