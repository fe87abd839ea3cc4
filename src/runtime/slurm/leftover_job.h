#pragma once
// The holder job of a berth that is gone (killed with SIGKILL, its machine
// rebooted): `berth down RUN_DIR` and the next `berth run` on the run dir end
// it with scancel instead of waiting for it to end itself (holder.h), and a
// job that is still pending (it holds nothing yet, and would start only to
// end at once) leaves the queue.
//
// Slurm reuses job ids (after MaxJobId, or a controller that lost its
// state), so a recorded id is cancelled only when it is still this run's
// job: named as berth named it, running the run dir's own holder script.

#include <string>

#include "berth/clock.h"
#include "berth/status.h"
#include "runtime/slurm/command.h"

namespace berth::runtime::slurm {

struct LeftoverJob {
  enum class Outcome {
    kGone,       // Slurm has forgotten it, or it had ended (state_text says how)
    kCancelled,  // it was pending or running: cancelled, and it has ended
    kNotOurs,    // the id is another job's now (detail says whose): left alone
  };
  Outcome outcome = Outcome::kGone;
  std::string state_text;  // as squeue printed it before anything was done; "" when forgotten
  std::string detail;
};

// Asks squeue about `job_id`; when it is still pending or running and it is
// the holder job of `run_dir` (named `job_name`, its script
// run_dir/holder.sh, the same file), scancels it and waits (bounded, 30 s)
// until it ended. Errors: squeue or scancel failed (Slurm unreachable), or
// the job did not end in time.
Result<LeftoverJob> EndLeftoverJob(const std::string& job_id, const std::string& job_name,
                                   const std::string& run_dir,
                                   CommandRunner& runner = CommandRunner::System(),
                                   Clock& clock = Clock::System());

}  // namespace berth::runtime::slurm
