#include "runtime/local/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/read_file.h"
#include "runtime/local/proc_scan.h"

namespace berth::runtime::local {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxProcFileBytes = size_t{16} << 20;  // thousands of mounts or pids
constexpr int kMaxDepth = 32;  // cgroups a worker (as root) could make inside ours
constexpr std::string_view kNamePrefix = "berth-";
constexpr size_t kRandomDigits = 16;

// \ooo (three octal digits) -> the byte; anything else is kept as it is.
std::string DecodeOctalEscapes(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    const auto octal = [&](size_t k) {
      return i + k < field.size() && field[i + k] >= '0' && field[i + k] <= '7';
    };
    if (field[i] == '\\' && octal(1) && octal(2) && octal(3)) {
      out.push_back(static_cast<char>(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) |
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::string Trimmed(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// Writes `value` to a cgroup interface file; the errno on failure, else 0.
int WriteControl(const std::string& file, std::string_view value) {
  const int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  close(fd);
  return err;
}

void CollectProcesses(const std::string& dir, int depth, std::vector<pid_t>* out) {
  if (Result<std::string> text =
          common::ReadFile(dir + "/cgroup.procs", kMaxProcFileBytes, "cgroup.procs")) {
    for (std::string_view line : Lines(*text)) {
      const std::string s(line);
      char* end = nullptr;
      const int64_t pid = std::strtoll(s.c_str(), &end, 10);
      if (end != s.c_str() && *end == '\0' && pid > 0 && pid <= INT_MAX) {
        out->push_back(static_cast<pid_t>(pid));
      }
    }
  }
  if (depth >= kMaxDepth) return;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") {
      CollectProcesses(dir + "/" + name, depth + 1, out);
    }
  }
  closedir(d);
}

// Removes the cgroups below `dir`, deepest first, then `dir`; the errno of
// the first failure other than ENOENT, else 0.
int RemoveTree(const std::string& dir, int depth) {
  int first = 0;
  if (depth < kMaxDepth) {
    if (DIR* d = opendir(dir.c_str())) {
      std::vector<std::string> children;
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (e->d_type == DT_DIR && name != "." && name != "..") children.push_back(name);
      }
      closedir(d);
      for (const std::string& c : children) {
        const int err = RemoveTree(dir + "/" + c, depth + 1);
        if (first == 0) first = err;
      }
    }
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT && first == 0) first = errno;
  return first;
}

std::string PidList(const std::vector<pid_t>& pids) {
  std::string out;
  for (size_t i = 0; i < pids.size() && i < 10; ++i) {
    out += (i == 0 ? "" : ", ") + std::to_string(pids[i]);
  }
  if (pids.size() > 10) out += ", ...";
  return out;
}

}  // namespace

std::optional<std::string> Cgroup2MountIn(std::string_view proc_mounts) {
  for (std::string_view line : Lines(proc_mounts)) {
    const std::vector<std::string_view> f = Fields(line);
    if (f.size() >= 3 && f[2] == "cgroup2") return Trimmed(DecodeOctalEscapes(f[1]));
  }
  return std::nullopt;
}

std::optional<std::string> OwnCgroupIn(std::string_view proc_self_cgroup) {
  for (std::string_view line : Lines(proc_self_cgroup)) {
    if (line.starts_with("0::")) {
      std::string path(line.substr(3));
      if (path.empty() || path[0] != '/') return std::nullopt;
      return Trimmed(std::move(path));
    }
  }
  return std::nullopt;
}

std::string RunCgroupName(pid_t pid, std::string_view random) {
  return std::string(kNamePrefix) + std::to_string(pid) + "-" + std::string(random);
}

bool IsRunCgroupName(std::string_view name, pid_t* pid) {
  if (!name.starts_with(kNamePrefix)) return false;
  name.remove_prefix(kNamePrefix.size());
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 10 || name[0] == '0') return false;
  const std::string_view digits = name.substr(0, dash);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int64_t value = std::stoll(std::string(digits));
  if (value > INT_MAX) return false;
  const std::string_view random = name.substr(dash + 1);
  if (random.size() != kRandomDigits || !std::all_of(random.begin(), random.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return false;
  }
  if (pid != nullptr) *pid = static_cast<pid_t>(value);
  return true;
}

Status CheckRunCgroupPath(const std::string& path, const std::string& mount, pid_t berth_pid) {
  const std::string what = "cgroup \"" + path + "\"";
  if (path.empty() || path[0] != '/') return InvalidSpec(what + " is not an absolute path");
  const std::string_view rest = std::string_view{path}.substr(1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t slash = rest.find('/', pos);
    if (slash == std::string_view::npos) slash = rest.size();
    const std::string_view part = rest.substr(pos, slash - pos);
    if (part.empty() || part == "." || part == "..") {
      return InvalidSpec(what + R"( has an empty, "." or ".." component)");
    }
    pos = slash + 1;
  }
  const std::string base = Trimmed(mount);
  const std::string prefix = base == "/" ? base : base + "/";
  if (!path.starts_with(prefix) || path.size() == prefix.size()) {
    return InvalidSpec(what + " is not under the cgroup2 mount " + base);
  }
  const std::string_view name = std::string_view{path}.substr(path.rfind('/') + 1);
  pid_t made_by = 0;
  if (!IsRunCgroupName(name, &made_by)) {
    return InvalidSpec(what + " is not named as berth names a run's cgroup (berth-<pid>-<" +
                       std::to_string(kRandomDigits) + " hex digits>)");
  }
  if (made_by != berth_pid) {
    return InvalidSpec(what + " was made by pid " + std::to_string(made_by) +
                       ", not by berth pid " + std::to_string(berth_pid));
  }
  return Status::Ok();
}

Result<std::string> Cgroup2Mount() {
  Result<std::string> mounts =
      common::ReadFile("/proc/self/mounts", kMaxProcFileBytes, "the mount table");
  if (!mounts) return Unavailable(mounts.error().message());
  std::optional<std::string> mount = Cgroup2MountIn(*mounts);
  if (!mount) return Unavailable("no cgroup2 file system is mounted (/proc/self/mounts)");
  return *mount;
}

Result<std::string> OwnCgroupDir() {
  BERTH_ASSIGN_OR_RETURN(std::string mount, Cgroup2Mount());
  Result<std::string> text =
      common::ReadFile("/proc/self/cgroup", kMaxProcFileBytes, "this process's cgroups");
  if (!text) return Unavailable(text.error().message());
  std::optional<std::string> own = OwnCgroupIn(*text);
  if (!own) return Unavailable("/proc/self/cgroup has no cgroup v2 entry (0::)");
  return *own == "/" ? mount : Trimmed(mount) + *own;
}

Result<std::string> CreateRunCgroup(pid_t pid) {
  BERTH_ASSIGN_OR_RETURN(std::string parent, OwnCgroupDir());
  BERTH_ASSIGN_OR_RETURN(std::string random, common::RandomHex(kRandomDigits / 2));
  const std::string dir = (parent == "/" ? "" : parent) + "/" + RunCgroupName(pid, random);
  if (mkdir(dir.c_str(), 0755) != 0) return Unavailable(dir + ": " + ErrnoText(errno));
  // A mount table that lies (a stale entry, a tmpfs over the mount point)
  // would give a plain directory: that is no cgroup.
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
    rmdir(dir.c_str());
    return Unavailable(dir + ": not on a cgroup2 file system");
  }
  return dir;
}

Status MoveIntoCgroup(const std::string& dir, pid_t pid) {
  const int err = WriteControl(dir + "/cgroup.procs", std::to_string(pid));
  if (err != 0) {
    return BackendError(dir + "/cgroup.procs: cannot move process " + std::to_string(pid) +
                        " into it: " + ErrnoText(err));
  }
  return Status::Ok();
}

std::vector<pid_t> CgroupProcesses(const std::string& dir) {
  std::vector<pid_t> out;
  CollectProcesses(dir, 0, &out);
  return out;
}

bool CgroupPopulated(const std::string& dir) {
  Result<std::string> events =
      common::ReadFile(dir + "/cgroup.events", kMaxProcFileBytes, "cgroup.events");
  return events && std::ranges::any_of(Lines(*events),
                                       [](std::string_view line) { return line == "populated 1"; });
}

Result<int> KillCgroup(const std::string& dir, milliseconds timeout) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 && errno == ENOENT) return 0;
  const std::vector<pid_t> before = CgroupProcesses(dir);
  const auto deadline = SteadyClock::now() + timeout;
  if (CgroupPopulated(dir)) {
    // cgroup.kill: the kernel kills every process of the subtree, new forks
    // included. Without it (Linux < 5.14): frozen, a listed pid stays the
    // same process until it is killed, and no new one is forked meanwhile.
    const bool has_kill = WriteControl(dir + "/cgroup.kill", "1") == 0;
    if (!has_kill) (void)WriteControl(dir + "/cgroup.freeze", "1");
    milliseconds pause(1);
    while (CgroupPopulated(dir)) {
      if (SteadyClock::now() >= deadline) {
        const std::vector<pid_t> left = CgroupProcesses(dir);
        return BackendError(dir + ": " + std::to_string(left.size()) + " process(es) still there " +
                            std::to_string(timeout.count()) +
                            " ms after SIGKILL: " + PidList(left));
      }
      if (!has_kill) {
        for (pid_t pid : CgroupProcesses(dir)) kill(pid, SIGKILL);
      }
      usleep(static_cast<useconds_t>(pause.count() * 1000));
      pause = std::min(pause * 2, milliseconds(20));
    }
  }
  // Emptied cgroups can be removed at once; retried a little in case the
  // kernel is still finishing an exit.
  for (;;) {
    const int err = RemoveTree(dir, 0);
    if (err == 0) break;
    if (err != EBUSY || SteadyClock::now() >= deadline) {
      return BackendError(dir + ": cannot remove it: " + ErrnoText(err));
    }
    usleep(5000);
  }
  return static_cast<int>(before.size());
}

Result<bool> IsCgroupDir(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    if (errno == ENOENT) return false;
    return InvalidSpec("cgroup " + path + ": " + ErrnoText(errno));
  }
  if (path != resolved) {
    return InvalidSpec("cgroup " + path + " resolves to " + resolved + ", not to itself");
  }
  struct statfs fs {};
  if (statfs(resolved, &fs) != 0) return InvalidSpec("cgroup " + path + ": " + ErrnoText(errno));
  if (fs.f_type != CGROUP2_SUPER_MAGIC) {
    return InvalidSpec("cgroup " + path + " is not on a cgroup2 file system");
  }
  return true;
}

void LeaveAndRemoveCgroup(const std::string& dir) {
  Result<std::string> own = OwnCgroupDir();
  if (!own || *own != dir) return;  // never moved in: nothing of ours to remove
  const std::vector<pid_t> procs = CgroupProcesses(dir);
  if (procs.size() != 1 || procs[0] != getpid()) return;  // berth deals with the others
  const std::string parent = dir.substr(0, dir.rfind('/'));
  if (WriteControl(parent + "/cgroup.procs", "0") == 0) rmdir(dir.c_str());
}

}  // namespace berth::runtime::local
