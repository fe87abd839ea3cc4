#include "runtime/slurm/leftover_job.h"

#include <filesystem>
#include <string_view>
#include <vector>

#include "common/text.h"
#include "runtime/slurm/holder.h"
#include "runtime/slurm/slurm_parse.h"

namespace berth::runtime::slurm {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kClientTimeout{15000};
constexpr milliseconds kPoll{200};
constexpr std::chrono::seconds kEndWait{30};

// One line per component: "ID|STATE|NAME|COMMAND|" (the command last: it
// may hold anything).
constexpr char kFormat[] = "JobID:|,State:|,Name:|,Command:|";

struct Row {
  std::string state;
  std::string name;
  std::string command;
};

Result<std::vector<Row>> Rows(const std::string& job_id, CommandRunner& runner) {
  Result<std::string> out =
      RunClient(runner, {"squeue", "-h", "-t", "all", "-j", job_id, "-O", kFormat}, kClientTimeout);
  if (!out) {
    if (out.error().code() == ErrorCode::kNotFound) return std::vector<Row>{};
    return out.error();
  }
  std::vector<Row> rows;
  std::string_view text = *out;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty()) continue;
    std::vector<std::string_view> f;
    for (int i = 0; i < 3; ++i) {
      const size_t bar = line.find('|');
      if (bar == std::string_view::npos) break;
      f.push_back(line.substr(0, bar));
      line.remove_prefix(bar + 1);
    }
    if (f.size() < 3) {
      return BackendError("squeue -j " + job_id + " printed " + common::Quote(std::string(line)) +
                          ", not ID|STATE|NAME|COMMAND|");
    }
    if (!line.empty() && line.back() == '|') line.remove_suffix(1);
    rows.push_back({std::string(f[1]), std::string(f[2]), std::string(line)});
  }
  return rows;
}

// Whether `command` ("/abs/run/holder.sh /abs/run/slurm.heartbeat 15 2")
// runs `script`: the text up to its last "/holder.sh" names the same file.
bool RunsScript(const std::string& command, const std::filesystem::path& script) {
  const std::string name = std::string("/") + kHolderScriptFile;
  size_t at = command.rfind(name + " ");
  if (at == std::string::npos && command.size() >= name.size() &&
      command.compare(command.size() - name.size(), name.size(), name) == 0) {
    at = command.size() - name.size();
  }
  if (at == std::string::npos) return false;
  std::error_code ec;
  return std::filesystem::equivalent(command.substr(0, at + name.size()), script, ec) && !ec;
}

}  // namespace

Result<LeftoverJob> EndLeftoverJob(const std::string& job_id, const std::string& job_name,
                                   const std::string& run_dir, CommandRunner& runner,
                                   Clock& clock) {
  if (job_id.empty() || job_id.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidSpec("slurm_job " + common::Quote(job_id) + " in " + run_dir +
                       "/state.json is not a Slurm job id");
  }
  LeftoverJob result;
  BERTH_ASSIGN_OR_RETURN(std::vector<Row> rows, Rows(job_id, runner));
  if (rows.empty()) return result;  // forgotten: it ended long ago
  // The component furthest from its end decides.
  bool live = false;
  result.state_text = rows[0].state;
  for (const Row& r : rows) {
    if (!IsFinal(ParseJobState(r.state))) {
      live = true;
      result.state_text = r.state;
    }
  }
  if (!live) return result;
  const std::filesystem::path script = std::filesystem::path(run_dir) / kHolderScriptFile;
  if (rows[0].name != job_name || !RunsScript(rows[0].command, script)) {
    result.outcome = LeftoverJob::Outcome::kNotOurs;
    result.detail = "job " + job_id + " is named " + common::Quote(rows[0].name) + " and runs " +
                    common::Quote(rows[0].command) + ", not " + job_name + " running " +
                    script.string();
    return result;
  }
  Result<std::string> r = RunClient(runner, {"scancel", job_id}, kClientTimeout);
  if (!r && r.error().code() != ErrorCode::kNotFound) return r.error();
  result.outcome = LeftoverJob::Outcome::kCancelled;
  const Clock::TimePoint deadline = clock.Now() + kEndWait;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(rows, Rows(job_id, runner));
    bool ended = true;
    for (const Row& row : rows) ended = ended && IsFinal(ParseJobState(row.state));
    if (ended) return result;
    if (clock.Now() >= deadline) {
      return BackendError("Slurm job " + job_id + " was cancelled but has not ended after " +
                          std::to_string(kEndWait.count()) + " s; see squeue -j " + job_id);
    }
    clock.SleepFor(kPoll);
  }
}

}  // namespace berth::runtime::slurm
