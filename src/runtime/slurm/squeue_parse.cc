// Reads `squeue` (-O kSqueueFormat and -s -O kSqueueStepsFormat): jobs, steps and their states.

#include <utility>

#include "runtime/slurm/slurm_parse.h"
#include "runtime/slurm/slurm_text.h"

namespace berth::runtime::slurm {

std::vector<std::string> SqueueJobArgs(const std::vector<std::string>& job_ids) {
  std::vector<std::string> args = {"-h", "-t", "all", "-O", std::string(kSqueueFormat)};
  if (!job_ids.empty()) {
    args.emplace_back("-j");
    args.push_back(Join(job_ids, ","));
  }
  return args;
}

std::vector<std::string> SqueueStepArgs(const std::vector<std::string>& job_ids) {
  std::vector<std::string> args = {"-s", "-h", "-O", std::string(kSqueueStepsFormat)};
  if (!job_ids.empty()) {
    args.emplace_back("-j");
    args.push_back(Join(job_ids, ","));
  }
  return args;
}

namespace {

constexpr std::pair<std::string_view, JobState> kJobStates[] = {
    {"PENDING", JobState::kPending},       {"CONFIGURING", JobState::kConfiguring},
    {"RUNNING", JobState::kRunning},       {"SUSPENDED", JobState::kSuspended},
    {"COMPLETING", JobState::kCompleting}, {"RESIZING", JobState::kResizing},
    {"REQUEUED", JobState::kRequeued},     {"COMPLETED", JobState::kCompleted},
    {"CANCELLED", JobState::kCancelled},   {"FAILED", JobState::kFailed},
    {"TIMEOUT", JobState::kTimeout},       {"OUT_OF_MEMORY", JobState::kOutOfMemory},
    {"NODE_FAIL", JobState::kNodeFail},    {"BOOT_FAIL", JobState::kBootFail},
    {"DEADLINE", JobState::kDeadline},     {"PREEMPTED", JobState::kPreempted},
};

}  // namespace

const char* JobStateName(JobState s) {
  for (const auto& [name, state] : kJobStates) {
    if (state == s) return name.data();
  }
  return "OTHER";
}

JobState ParseJobState(std::string_view text) {
  std::string_view t = Trim(text);
  t = t.substr(0, t.find(' '));  // "CANCELLED by 0"
  for (const auto& [name, state] : kJobStates) {
    if (t == name) return state;
  }
  // squeue's short codes, for callers that asked for %t.
  static const std::pair<std::string_view, JobState> kShort[] = {
      {"PD", JobState::kPending},   {"CF", JobState::kConfiguring}, {"R", JobState::kRunning},
      {"S", JobState::kSuspended},  {"CG", JobState::kCompleting},  {"RS", JobState::kResizing},
      {"RQ", JobState::kRequeued},  {"CD", JobState::kCompleted},   {"CA", JobState::kCancelled},
      {"F", JobState::kFailed},     {"TO", JobState::kTimeout},     {"OOM", JobState::kOutOfMemory},
      {"NF", JobState::kNodeFail},  {"BF", JobState::kBootFail},    {"DL", JobState::kDeadline},
      {"PR", JobState::kPreempted},
  };
  for (const auto& [name, state] : kShort) {
    if (t == name) return state;
  }
  return JobState::kOther;
}

bool IsFinal(JobState s) {
  switch (s) {
    case JobState::kCompleted:
    case JobState::kCancelled:
    case JobState::kFailed:
    case JobState::kTimeout:
    case JobState::kOutOfMemory:
    case JobState::kNodeFail:
    case JobState::kBootFail:
    case JobState::kDeadline:
    case JobState::kPreempted:
      return true;
    default:
      return false;
  }
}

Result<std::vector<SlurmJob>> ParseSqueue(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 8;
  std::vector<SlurmJob> jobs;
  BERTH_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      Rows(text, source, kFields, "JOBID", "squeue -h -O '" + std::string(kSqueueFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    SlurmJob job;
    if (!IsDigits(Trim(f[0])) || Trim(f[0]).size() > kMaxDigits) {
      return bad("JobID", f[0], "is not a job number");
    }
    job.job_id = std::string(Trim(f[0]));
    job.display_id = std::string(Trim(f[1]));
    if (job.display_id.empty()) return bad("JobArrayID", f[1], "is empty");
    const std::string_view het = Trim(f[2]);
    if (het != "N/A" && !het.empty()) {
      if (!IsDigits(het) || het.size() > kMaxDigits)
        return bad("HetJobID", f[2], "is not a job number or N/A");
      job.het_job_id = std::string(het);
    }
    const std::string_view offset = Trim(f[3]);
    if (offset != "N/A" && !offset.empty()) {
      int64_t v = 0;
      if (!ParseWhole(offset, &v) || v > 1000000)
        return bad("HetJobOffset", f[3], "is not a whole number or N/A");
      job.het_offset = static_cast<int>(v);
    }
    job.state_text = std::string(Trim(f[4]));
    job.state = ParseJobState(job.state_text);
    if (!ParseWhole(Trim(f[5]), &job.node_count))
      return bad("NumNodes", f[5], "is not a whole number");
    job.nodelist = std::string(Trim(f[6]));
    auto nodes = ExpandHostlist(job.nodelist);
    if (!nodes) return bad("NodeList", f[6], nodes.error().message());
    job.nodes = std::move(*nodes);
    const std::string_view reason = Trim(f[7]);
    if (reason != "None") job.reason = std::string(reason);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<std::vector<SlurmStep>> ParseSqueueSteps(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 5;
  std::vector<SlurmStep> steps;
  BERTH_ASSIGN_OR_RETURN(std::vector<Row> rows,
                         Rows(text, source, kFields, "STEPID",
                              "squeue -s -h -O '" + std::string(kSqueueStepsFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    SlurmStep step;
    step.step_id = std::string(Trim(f[0]));
    const size_t dot = step.step_id.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == step.step_id.size()) {
      return bad("StepID", f[0], "is not JOB.STEP");
    }
    step.job_id = step.step_id.substr(0, dot);
    step.step = step.step_id.substr(dot + 1);
    step.state_text = std::string(Trim(f[1]));
    step.state = ParseJobState(step.state_text);
    step.nodelist = std::string(Trim(f[2]));
    auto nodes = ExpandHostlist(step.nodelist);
    if (!nodes) return bad("Nodes", f[2], nodes.error().message());
    step.nodes = std::move(*nodes);
    if (!ParseWhole(Trim(f[3]), &step.tasks)) return bad("NumTasks", f[3], "is not a whole number");
    step.name = std::string(f[4]);
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace berth::runtime::slurm
