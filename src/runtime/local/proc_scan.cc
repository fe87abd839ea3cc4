#include "runtime/local/proc_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <unordered_map>

namespace berth::runtime::local {
namespace {

// Reads a whole (small, /proc) file; nullopt if it cannot be opened.
std::optional<std::string> ReadProcFile(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

template <typename T>
bool ParseNum(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

int PidfdSendSignal(int fd, int sig) {
#ifdef SYS_pidfd_send_signal
  return static_cast<int>(syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

std::optional<ProcInfo> ReadProc(pid_t pid) {
  auto text = ReadProcFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!text) return std::nullopt;
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
  //  cmajflt utime stime cutime cstime priority nice threads itrealvalue
  //  starttime ...": comm may hold spaces and ')', so parse after the last ')'.
  size_t open = text->find('(');
  size_t close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  std::string_view rest = std::string_view{*text}.substr(close + 1);
  std::vector<std::string_view> f;  // f[0] = state, field 3 of stat(5)
  while (!rest.empty() && f.size() < 20) {
    size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    size_t e = rest.find(' ');
    f.push_back(rest.substr(0, e));
    rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
  }
  if (f.size() < 20 || f[0].empty()) return std::nullopt;
  ProcInfo p;
  p.pid = pid;
  p.state = f[0][0];
  p.comm = text->substr(open + 1, close - open - 1);
  if (!ParseNum(f[1], &p.ppid) || !ParseNum(f[2], &p.pgid) || !ParseNum(f[3], &p.sid) ||
      !ParseNum(f[19], &p.starttime)) {
    return std::nullopt;
  }
  return p;
}

std::vector<ProcInfo> ListProcesses() {
  std::vector<ProcInfo> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid;
    if (!ParseNum(std::string_view(e->d_name), &pid) || pid <= 0) continue;
    if (auto p = ReadProc(pid)) out.push_back(*p);
  }
  closedir(d);
  return out;
}

std::optional<std::string> ReadEnvVar(pid_t pid, const std::string& var) {
  auto env = ReadProcFile("/proc/" + std::to_string(pid) + "/environ", 64U << 20);
  if (!env) return std::nullopt;
  std::string_view rest(*env);
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    std::string_view entry = rest.substr(0, end);
    if (entry.size() > var.size() && entry.substr(0, var.size()) == var &&
        entry[var.size()] == '=') {
      return std::string(entry.substr(var.size() + 1));
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return std::nullopt;
}

std::unordered_set<pid_t> Subtree(const std::vector<ProcInfo>& procs,
                                  const std::unordered_set<pid_t>& roots) {
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  for (const ProcInfo& p : procs) children[p.ppid].push_back(p.pid);
  std::unordered_set<pid_t> out;
  std::vector<pid_t> todo;
  for (const ProcInfo& p : procs) {
    if (roots.contains(p.pid)) todo.push_back(p.pid);
  }
  while (!todo.empty()) {
    pid_t pid = todo.back();
    todo.pop_back();
    if (!out.insert(pid).second) continue;
    auto it = children.find(pid);
    if (it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
  }
  return out;
}

bool SignalProcess(const ProcInfo& p, int sig) {
  int fd = PidfdOpen(p.pid);
  if (fd < 0 && errno != ENOSYS) return false;  // ESRCH: gone
  // With the pidfd held, the pid cannot name another process: if the start
  // time still matches, the signal reaches the process we scanned. Without
  // pidfds (kernel < 5.3) a small reuse window remains.
  auto now = ReadProc(p.pid);
  bool same = now && now->starttime == p.starttime;
  bool sent = false;
  if (same) sent = fd >= 0 ? PidfdSendSignal(fd, sig) == 0 : kill(p.pid, sig) == 0;
  if (fd >= 0) close(fd);
  return sent;
}

int CountThreads() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);
  const char* name = strerrorname_np(err);
  std::string out = desc ? desc : "unknown error " + std::to_string(err);
  if (name) out += std::string(" (") + name + ")";
  return out;
}

}  // namespace berth::runtime::local
