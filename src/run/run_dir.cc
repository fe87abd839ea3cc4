#include "run/run_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "common/fd_io.h"

namespace berth::run {
namespace {

// What berth writes directly in a run dir besides logs/ and its lock: a
// link at any of these names is refused at start. The temporary files are
// named with berth's pid, added in Take.
constexpr const char* kBerthNames[] = {"state.json", "merged.log", "control.token", "control.json",
                                       "holder.sh",  "holder.log", "events.jsonl"};

std::string Now() {
  char stamp[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S %z", &tm);
  return stamp;
}

// "pid N\nstarted T\n", as Take writes it into the lock file.
std::string HolderText() { return "pid " + std::to_string(getpid()) + "\nstarted " + Now() + "\n"; }

// "berth pid N (started T)" from the lock file's text; "another berth" when
// it says nothing yet.
std::string DescribeHolder(const std::string& text) {
  int pid = 0;
  if (std::sscanf(text.c_str(), "pid %d", &pid) != 1 || pid <= 0) return "another berth";
  std::string who = "berth pid " + std::to_string(pid);
  const size_t at = text.find("\nstarted ");
  if (at != std::string::npos) {
    const size_t from = at + 9;
    who += " (started " + text.substr(from, text.find('\n', from) - from) + ")";
  }
  return who;
}

// The holder writes its line right after it takes the lock: a file still
// empty is one just taken, read again for up to a second.
std::string ReadHolder(int dir) {
  const int fd = ::openat(dir, kRunLockName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return {};
  common::UniqueFd lock(fd);
  std::string text;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char buf[256];
    const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n > 0) {
      text.assign(buf, static_cast<size_t>(n));
      if (text.find('\n') != std::string::npos) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return text;
}

// Every entry of logs/ is a worker's log: a link among them is refused.
Status CheckLogs(int logs, const std::string& shown_logs, const std::string& run_dir) {
  const int fd = ::fcntl(logs, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return BackendError(shown_logs + ": cannot read: " + std::strerror(errno));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return BackendError(shown_logs + ": cannot read: " + std::strerror(errno));
  }
  Status found = Status::Ok();
  while (const dirent* e = ::readdir(d)) {
    const bool link =
        e->d_type == DT_LNK || (e->d_type == DT_UNKNOWN && common::IsSymlinkAt(logs, e->d_name));
    if (link) {
      found = common::SymlinkRefused(logs, e->d_name, shown_logs + "/" + e->d_name, run_dir);
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

std::optional<int> RunDirectory::LockHolder(const std::string& path) {
  Result<common::UniqueFd> dir = common::OpenDirectory(path, false, 0);
  if (!dir) return std::nullopt;
  const int fd = ::openat(dir->get(), kRunLockName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  common::UniqueFd lock(fd);
  // Held: a FLOCK on its inode in /proc/locks ("1: FLOCK ADVISORY WRITE
  // 1234 08:01:56789 0 EOF", device in hex, inode in decimal). Trying the
  // lock instead, even shared for a moment, could refuse a berth run that
  // takes the directory at that moment.
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  char id[64];
  std::snprintf(id, sizeof id, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  std::ifstream locks("/proc/locks");
  std::string line;
  bool held = false;
  while (!held && std::getline(locks, line)) {
    held = line.find(" FLOCK ") != std::string::npos &&
           line.find(std::string(" ") + id + " ") != std::string::npos;
  }
  if (!held) return std::nullopt;
  int pid = 0;
  if (std::sscanf(ReadHolder(dir->get()).c_str(), "pid %d", &pid) != 1 || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

Result<RunDirectory> RunDirectory::Take(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(common::UniqueFd dir, common::OpenDirectory(path, true, 0700));
  // The lock before anything else in the directory is read or written.
  BERTH_ASSIGN_OR_RETURN(
      common::UniqueFd lock,
      common::OpenFileBeneath(dir.get(), kRunLockName, common::WriteMode::kAppend, 0600, path));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      return BackendError(path + "/" + kRunLockName + ": cannot lock: " + std::strerror(errno));
    }
    return Unavailable("run dir " + path + " is in use by " +
                       DescribeHolder(ReadHolder(dir.get())) + "; stop it with `berth down " +
                       path + "` or pick another run_dir");
  }
  if (::ftruncate(lock.get(), 0) != 0) {
    return BackendError(path + "/" + kRunLockName + ": cannot truncate: " + std::strerror(errno));
  }
  BERTH_RETURN_IF_ERROR(common::WriteAll(lock.get(), HolderText(), path + "/" + kRunLockName));

  std::vector<std::string> names(std::begin(kBerthNames), std::end(kBerthNames));
  const std::string pid = std::to_string(getpid());
  names.push_back("state.json.tmp." + pid);
  names.push_back("control.json.tmp." + pid);
  for (const std::string& name : names) {
    if (common::IsSymlinkAt(dir.get(), name)) {
      return common::SymlinkRefused(dir.get(), name, path + "/" + name, path);
    }
  }
  BERTH_ASSIGN_OR_RETURN(common::UniqueFd logs,
                         common::MakeDirectoryBeneath(dir.get(), "logs", 0700, path));
  BERTH_RETURN_IF_ERROR(CheckLogs(logs.get(), path + "/logs", path));
  return RunDirectory(path, std::move(dir), std::move(lock));
}

}  // namespace berth::run
