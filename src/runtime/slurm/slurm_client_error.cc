// What a failed Slurm client call means, from its exit code and stderr.

#include "runtime/slurm/slurm_parse.h"
#include "runtime/slurm/slurm_text.h"

namespace berth::runtime::slurm {

Status ClientError(std::string_view command, int exit_code, std::string_view stderr_text) {
  std::string_view last;
  for (std::string_view line : Lines(stderr_text)) {
    if (!Trim(line).empty()) last = Trim(line);
  }
  std::string msg = std::string(command) + " failed (exit " + std::to_string(exit_code) + ")";
  if (!last.empty()) msg += ": " + std::string(last.substr(0, 300));
  auto has = [&](std::string_view needle) {
    return stderr_text.find(needle) != std::string_view::npos;
  };
  if (has("Invalid job id specified") || has("Invalid job step id") ||
      has("Invalid node name specified")) {
    return NotFound(msg);
  }
  if (exit_code == 124 || exit_code == 137) {
    return Unavailable(msg + (last.empty() ? "" : ";") +
                       " timed out: is slurmctld running and reachable?");
  }
  if (has("Unable to contact slurm controller") || has("Socket timed out") ||
      has("Connection refused") || has("Zero Bytes were transmitted") ||
      has("Slurm backup controller in standby mode")) {
    return Unavailable(msg);
  }
  if (has("Could not establish a configuration source") ||
      has("Unable to process configuration file")) {
    return BackendError(msg + " (is SLURM_CONF set to the cluster's slurm.conf?)");
  }
  return BackendError(msg);
}

}  // namespace berth::runtime::slurm
