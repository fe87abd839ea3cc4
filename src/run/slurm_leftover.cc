#include "run/slurm_leftover.h"

#include <cstdio>

#include "runtime/slurm/leftover_job.h"

namespace berth::run {

namespace {

// One job of the run (`dir`: the folder its holder script is in).
bool EndOne(const std::string& id, const std::string& dir, const formats::RunState& state,
            const std::string& who, bool say_nothing_left, runtime::slurm::CommandRunner& runner,
            Clock& clock) {
  using Outcome = runtime::slurm::LeftoverJob::Outcome;
  // The name berth gives the job (run_slurm.cc).
  Result<runtime::slurm::LeftoverJob> r =
      runtime::slurm::EndLeftoverJob(id, "berth-" + state.experiment, dir, runner, clock);
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
      std::fprintf(stderr, "%s: state.json's Slurm job %s left alone: %s\n", who.c_str(),
                   id.c_str(), r->detail.c_str());
      break;
  }
  std::fflush(stdout);
  return true;
}

}  // namespace

bool EndLeftoverSlurmJob(const formats::RunState& state, const std::string& run_dir,
                         const std::string& who, bool say_nothing_left,
                         runtime::slurm::CommandRunner& runner, Clock& clock) {
  bool ok = true;
  if (!state.slurm_job.empty()) {
    ok = EndOne(state.slurm_job, run_dir, state, who, say_nothing_left, runner, clock);
  }
  for (const formats::FurtherSlurmJob& f : state.further_slurm_jobs) {
    // Only a folder right beneath the run dir: state.json is not trusted
    // to name another place.
    if (f.dir.empty() || f.dir.find('/') != std::string::npos || f.dir.starts_with('.')) {
      std::fprintf(stderr,
                   "%s: state.json's further Slurm job %s left alone: its folder %s is not "
                   "one of the run dir's\n",
                   who.c_str(), f.id.c_str(), f.dir.c_str());
      ok = false;
      continue;
    }
    ok = EndOne(f.id, run_dir + "/" + f.dir, state, who, say_nothing_left, runner, clock) && ok;
  }
  return ok;
}

}  // namespace berth::run
