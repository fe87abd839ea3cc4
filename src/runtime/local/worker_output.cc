#include "runtime/local/worker_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd_io.h"
#include "common/safe_open.h"
#include "runtime/local/proc_scan.h"

namespace berth::runtime::local {
namespace {

constexpr size_t kChunk = size_t{64} * 1024;

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// `path` relative to `root` when it lies beneath it ("" when it does not),
// repeated slashes dropped.
std::string BeneathRoot(const std::string& root, const std::string& path) {
  std::string prefix = root;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty() || path.size() <= prefix.size() ||
      path.compare(0, prefix.size(), prefix) != 0 ||
      (prefix != "/" && path[prefix.size()] != '/')) {
    return {};
  }
  std::string rel;
  for (size_t i = prefix.size(); i < path.size(); ++i) {
    if (path[i] == '/' && (rel.empty() || rel.back() == '/')) continue;
    rel += path[i];
  }
  return rel;
}

// The log at `path`, opened for appending. Beneath `root` nothing is
// followed: the folders on the way are opened (created 0700) one by one
// without following a link, and a link anywhere is refused by name. Outside
// it the folders are the caller's (created as mkdir -p does) and only the
// file's own name is never followed. Either way only a regular file with no
// other hard link is written.
Result<int> OpenAppend(const std::string& path, const std::string& root, const std::string& who,
                       const char* what) {
  std::string dir = root;
  std::string rel = root.empty() ? std::string() : BeneathRoot(root, path);
  if (rel.empty()) {
    Status dirs = MakeParentDirs(path);
    if (!dirs.ok()) return BackendError(who + ": " + what + " '" + path + "': " + dirs.message());
    const size_t slash = path.rfind('/');
    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    rel = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  auto with_who = [&](const Status& s) {
    return Status(s.code(), who + ": " + what + " " + s.message());
  };
  Result<common::UniqueFd> at = common::OpenDirectory(dir, /*create=*/dir == root, 0700);
  if (!at) return with_who(at.error());
  const size_t slash = rel.rfind('/');
  if (slash != std::string::npos) {
    Result<common::UniqueFd> folder =
        common::MakeDirectoryBeneath(at->get(), rel.substr(0, slash), 0700, dir);
    if (!folder) return with_who(folder.error());
  }
  Result<common::UniqueFd> fd =
      common::OpenFileBeneath(at->get(), rel, common::WriteMode::kAppend, 0644, dir);
  if (!fd) return with_who(fd.error());
  return fd->release();
}

}  // namespace

Result<std::unique_ptr<WorkerOutput>> WorkerOutput::Open(const LaunchSpec& spec,
                                                         const std::string& who) {
  std::unique_ptr<WorkerOutput> out(new WorkerOutput());
  if (!spec.log_path.empty()) {
    BERTH_ASSIGN_OR_RETURN(out->log_fd_, OpenAppend(spec.log_path, spec.log_root, who, "log file"));
  }
  if (!spec.merged_log_path.empty()) {
    BERTH_ASSIGN_OR_RETURN(out->merged_fd_,
                           OpenAppend(spec.merged_log_path, spec.log_root, who, "merged log file"));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return BackendError(who + ": pipe2: " + ErrnoText(errno));
    out->pipe_r_ = fds[0];
    out->pipe_w_ = fds[1];
    fcntl(out->pipe_r_, F_SETFL, fcntl(out->pipe_r_, F_GETFL) | O_NONBLOCK);
    out->splitter_ = std::make_unique<LineSplitter>("[" + spec.id + "] ");
  }
  return out;
}

WorkerOutput::~WorkerOutput() {
  CloseFd(pipe_w_);
  Finish();
}

void WorkerOutput::ChildStarted() {
  if (pipe_w_ >= 0) {
    CloseFd(pipe_w_);
  } else {
    CloseFd(log_fd_);  // the child writes to its own copy
  }
}

void WorkerOutput::Drain(int max_chunks) {
  char buf[kChunk];
  for (int i = 0; pipe_r_ >= 0 && i < max_chunks; ++i) {
    ssize_t n = read(pipe_r_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return Finish();  // EOF: the worker and all that shared its output are gone
    std::string_view data(buf, static_cast<size_t>(n));
    if (log_fd_ >= 0) (void)common::WriteAll(log_fd_, data, "worker log");
    std::string lines = splitter_->Feed(data);
    if (merged_fd_ >= 0 && !lines.empty())
      (void)common::WriteAll(merged_fd_, lines, "merged log");  // whole lines in one write
  }
}

void WorkerOutput::Finish() {
  if (splitter_) {
    std::string rest = splitter_->Flush();
    if (merged_fd_ >= 0 && !rest.empty()) (void)common::WriteAll(merged_fd_, rest, "merged log");
  }
  CloseFd(pipe_r_);
  CloseFd(log_fd_);
  CloseFd(merged_fd_);
}

Status MakeParentDirs(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return Status::Ok();
  std::string dir = path.substr(0, slash);
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    std::string prefix = dir.substr(0, i);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return BackendError("cannot create directory '" + prefix + "': " + ErrnoText(errno));
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return BackendError("'" + dir + "' is not a directory");
  }
  return Status::Ok();
}

}  // namespace berth::runtime::local
