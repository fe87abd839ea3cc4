#include "run/slurm_leftover.h"

#include <cstdio>

#include "runtime/slurm/leftover_job.h"

namespace berth::run {

bool EndLeftoverSlurmJob(const formats::RunState& state, const std::string& run_dir,
                         const std::string& who, bool say_nothing_left,
                         runtime::slurm::CommandRunner& runner, Clock& clock) {
  using Outcome = runtime::slurm::LeftoverJob::Outcome;
  const std::string& id = state.slurm_job;
  if (id.empty()) return true;
  // The name berth gives the job (run_slurm.cc).
  Result<runtime::slurm::LeftoverJob> r =
      runtime::slurm::EndLeftoverJob(id, "berth-" + state.experiment, run_dir, runner, clock);
  if (!r) {
    std::fprintf(stderr,
                 "%s: Slurm job %s of this run may still hold its nodes: %s; check with "
                 "`squeue -j %s`, end it with `scancel %s`\n",
                 who.c_str(), id.c_str(), r.error().message().c_str(), id.c_str(), id.c_str());
    return false;
  }
  switch (r->outcome) {
    case Outcome::kCancelled:
      std::printf("cancelled Slurm job %s (%s, left by berth pid %d, which is gone)\n", id.c_str(),
                  r->state_text.c_str(), state.berth_pid);
      break;
    case Outcome::kGone:
      if (!say_nothing_left) break;
      std::printf("Slurm job %s of this run has already ended%s; nothing to cancel\n", id.c_str(),
                  r->state_text.empty() ? "" : (" (" + r->state_text + ")").c_str());
      break;
    case Outcome::kNotOurs:
      std::fprintf(stderr, "%s: state.json's slurm_job left alone: %s\n", who.c_str(),
                   r->detail.c_str());
      break;
  }
  std::fflush(stdout);
  return true;
}

}  // namespace berth::run
