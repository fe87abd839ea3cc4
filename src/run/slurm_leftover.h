#pragma once
// The Slurm job a `berth run` killed with SIGKILL left holding its nodes
// (state.json's slurm_job): `berth down RUN_DIR` and the next `berth run` on
// the run dir end it at once, rather than leaving it to end itself once it
// misses berth's heartbeat (runtime/slurm/holder.h) or, when it was still
// pending, to wait in the queue.

#include <string>

#include "berth/clock.h"
#include "formats/run_state.h"
#include "runtime/slurm/command.h"

namespace berth::run {

// If `state` names a Slurm job that still runs or waits and is this run's
// (runtime/slurm/leftover_job.h), cancels it, waits until it ended and
// prints "cancelled Slurm job N (STATE, left by berth pid P, which is
// gone)"; with `say_nothing_left`, a job that had ended, or that Slurm has
// forgotten, is said so too. Call it only once that berth is gone.
// `run_dir` is the run dir as this process reaches it; `who` begins the
// lines on stderr ("berth down"). Returns false when it found a job it could
// not end, or could not ask Slurm.
bool EndLeftoverSlurmJob(
    const formats::RunState& state, const std::string& run_dir, const std::string& who,
    bool say_nothing_left,
    runtime::slurm::CommandRunner& runner = runtime::slurm::CommandRunner::System(),
    Clock& clock = Clock::System());

}  // namespace berth::run
