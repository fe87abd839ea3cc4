#pragma once
// Where a worker's stdout and stderr go: straight into its log file, or, when
// a merged log is wanted, through a pipe that the supervisor copies into the
// log and, cut into whole prefixed lines, into the merged log.

#include <memory>
#include <string>
#include <string_view>

#include "berth/process.h"
#include "berth/status.h"
#include "runtime/local/line_splitter.h"

namespace berth::runtime::local {

class WorkerOutput {
 public:
  // Opens spec.log_path and spec.merged_log_path for appending (creating
  // parent directories; beneath spec.log_root nothing is followed, see
  // LaunchSpec) and, with a merged log, the pipe. Errors start with `who`:
  // kInvalidSpec for a planted link or a file berth must not write, else
  // kBackend.
  static Result<std::unique_ptr<WorkerOutput>> Open(const LaunchSpec& spec, const std::string& who);
  ~WorkerOutput();
  WorkerOutput(const WorkerOutput&) = delete;
  WorkerOutput& operator=(const WorkerOutput&) = delete;

  // The descriptor the child's stdout and stderr go to; -1: /dev/null.
  int child_fd() const { return pipe_w_ >= 0 ? pipe_w_ : log_fd_; }
  // After fork: drops our copy of the child's descriptor.
  void ChildStarted();
  // The pipe to poll for reading; -1 when there is none (any more).
  int pipe_fd() const { return pipe_r_; }
  // Copies up to max_chunks reads of what the pipe holds; on EOF, Finish().
  void Drain(int max_chunks);
  // Ends the merged log's partial line and closes everything.
  void Finish();

 private:
  WorkerOutput() = default;
  int log_fd_ = -1;
  int merged_fd_ = -1;
  int pipe_r_ = -1;  // non-blocking
  int pipe_w_ = -1;
  std::unique_ptr<LineSplitter> splitter_;
};

// mkdir -p of the directory holding `path`.
Status MakeParentDirs(const std::string& path);

}  // namespace berth::runtime::local
