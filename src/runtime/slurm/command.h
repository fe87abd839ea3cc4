#pragma once
// Running a Slurm client command (sinfo, squeue, sbatch, scancel, scontrol)
// and collecting what it printed. Always bounded: a client whose controller
// vanished can hang forever and ignore SIGTERM, so at the deadline it is
// SIGKILLed.

#include <chrono>
#include <string>
#include <vector>

#include "berth/status.h"

namespace berth::runtime::slurm {

struct CommandResult {
  int exit_code = -1;  // 128+N when signal N killed it; 124 when it timed out
  std::string out;
  std::string err;
};

// argv[0] is searched in PATH. The child gets berth's environment. Errors
// only when it cannot be started at all; a non-zero exit is a result.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

// What runs Slurm's commands for the backend: the seam that lets the
// backend's logic (submission, waiting for the job, cancelling) be tested
// against scripted answers (testing/fake_command_runner.h).
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // As RunCommand.
  virtual Result<CommandResult> Run(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout) = 0;
  // RunCommand on this machine. It has no state.
  static CommandRunner& System();
};

// runner.Run, then a non-zero exit turned into ClientError's status.
Result<std::string> RunClient(CommandRunner& runner, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout);

}  // namespace berth::runtime::slurm
