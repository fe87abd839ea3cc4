#pragma once
// Running a Slurm client command (sinfo, squeue, sbatch, scancel, scontrol)
// and collecting what it printed. Always bounded: a client whose controller
// vanished can hang forever and ignore SIGTERM, so at the deadline it is
// SIGKILLed.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "berth/status.h"

namespace berth::runtime::slurm {

struct CommandResult {
  int exit_code = -1;  // 128+N when signal N killed it; 124 when it timed out
  std::string out;
  std::string err;
};

// What RunCommand keeps of each of stdout and stderr: sinfo and squeue
// print a line per node or job, far below this for any real cluster.
inline constexpr size_t kMaxCommandOutput = size_t{16} << 20;

// argv[0] is searched in PATH. The child gets berth's environment. Errors
// when it cannot be started at all, or when it prints more than
// kMaxCommandOutput on one stream (it is killed; the error names the command
// and the limit); a non-zero exit is a result.
// A command started with stdin from /dev/null and its stdout and stderr on
// pipes (close-on-exec; the caller reads and closes them, and reaps pid).
// `own_group`: in a process group of its own, so that Ctrl-C on berth's
// terminal stays berth's to handle. Errors: a pipe, or the program cannot
// run (naming it).
struct PipedChild {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
};
Result<PipedChild> SpawnPiped(const std::vector<std::string>& argv, bool own_group);

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
