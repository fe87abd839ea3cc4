#include "common/safe_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/text.h"

namespace berth::common {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string Join(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (!s.empty() && s.back() != '/') s += '/';
  s += name;
  return s;
}

std::string Errno(int err) { return std::strerror(err); }

// What an entry is, for "is a FIFO, not a regular file".
const char* KindOf(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISREG(m)) return "a regular file";
  return "of an unknown kind";
}

// The parts of `rel`, each a plain name.
Result<std::vector<std::string>> Components(std::string_view rel, std::string_view shown_dir) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string part(rel.substr(start, slash - start));
    if (part.empty() || part == "." || part == "..") {
      return InvalidSpec(Quote(rel) + " is not a path inside " + std::string(shown_dir) +
                         R"( (it must be relative, without empty, "." or ".." parts))");
    }
    parts.push_back(std::move(part));
    start = slash + 1;
  }
  return parts;
}

bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

// Why `name` in `dir` could not be opened as a file or a folder: a link, or
// the wrong kind of entry (kInvalidSpec), else the system's reason (kBackend).
Status Refusal(int dir, const std::string& name, int err, const std::string& shown,
               std::string_view shown_dir, bool want_dir) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return SymlinkRefused(dir, name, shown, shown_dir);
    if (want_dir && !S_ISDIR(st.st_mode)) {
      return InvalidSpec(shown + ": is " + KindOf(st.st_mode) +
                         ", not a directory; berth keeps its own folders there: remove it");
    }
    if (!want_dir && !S_ISREG(st.st_mode)) {
      return InvalidSpec(shown + ": is " + KindOf(st.st_mode) +
                         ", not a regular file; berth writes only regular files there: remove it");
    }
  }
  return BackendError(shown + ": cannot open: " + Errno(err));
}

// The folder `name` of `at`, never a link; created (`mode`) when asked.
Result<UniqueFd> OpenSubdir(int at, const std::string& name, bool create, mode_t mode,
                            const std::string& shown, std::string_view shown_dir) {
  bool created = false;
  if (create) {
    // mkdirat never follows a link at the name: one there gives EEXIST, and
    // the open below refuses it.
    if (::mkdirat(at, name.c_str(), mode) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return BackendError(shown + ": cannot create: " + Errno(errno));
    }
  }
  const int fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Refusal(at, name, errno, shown, shown_dir, /*want_dir=*/true);
  UniqueFd d(fd);
  // The umask does not decide how private berth's folders are.
  if (created && ::fchmod(fd, mode) != 0) {
    return BackendError(shown + ": cannot set its mode: " + Errno(errno));
  }
  return d;
}

// The folders of parts[0, n) beneath `dir`, walked (and created) one by one;
// `shown` becomes their path. n == 0: a copy of `dir` itself.
Result<UniqueFd> WalkDirs(int dir, const std::vector<std::string>& parts, size_t n, bool create,
                          mode_t mode, std::string_view shown_dir, std::string* shown) {
  *shown = std::string(shown_dir);
  UniqueFd cur;
  if (n == 0) {
    cur = UniqueFd(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
    if (!cur) return BackendError(*shown + ": cannot duplicate its descriptor: " + Errno(errno));
  }
  for (size_t i = 0; i < n; ++i) {
    *shown = Join(*shown, parts[i]);
    BERTH_ASSIGN_OR_RETURN(UniqueFd next, OpenSubdir(i == 0 ? dir : cur.get(), parts[i], create,
                                                     mode, *shown, shown_dir));
    cur = std::move(next);
  }
  return cur;
}

}  // namespace

Status SymlinkRefused(int dir, std::string_view name, std::string_view shown,
                      std::string_view shown_dir) {
  std::string target;
  char buf[4096];
  const ssize_t n = ::readlinkat(dir, std::string(name).c_str(), buf, sizeof buf);
  if (n > 0) target = " (to " + QuoteForeign(std::string_view(buf, static_cast<size_t>(n))) + ")";
  return InvalidSpec(std::string(shown) + ": is a symbolic link" + target +
                     "; berth writes nothing through a link inside " + std::string(shown_dir) +
                     ": remove it");
}

bool IsSymlinkAt(int dir, std::string_view name) {
  struct stat st {};
  return ::fstatat(dir, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISLNK(st.st_mode);
}

Result<UniqueFd> OpenDirectory(const std::string& path, bool create, mode_t mode) {
  bool created = false;
  if (create) {
    std::error_code ec;
    std::string trimmed = path;  // "run/" is "run": the leaf gets `mode`
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    const std::filesystem::path p(trimmed);
    // The folders that are missing, outermost first: the parents as mkdir -p
    // makes them, the directory itself `mode` whatever the umask.
    std::vector<std::filesystem::path> missing;
    for (std::filesystem::path q = p; !q.empty() && !std::filesystem::exists(q, ec);
         q = q.parent_path()) {
      missing.push_back(q);
      if (q == q.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      const bool leaf = it + 1 == missing.rend();
      if (::mkdir(it->c_str(), leaf ? mode : 0777) != 0) {
        if (errno == EEXIST) continue;  // made meanwhile: not ours to change
        return BackendError(it->string() + ": cannot create: " + Errno(errno));
      }
      created = leaf;
    }
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return BackendError(path + ": cannot open the directory: " + Errno(errno));
  UniqueFd dir(fd);
  if (created && ::fchmod(fd, mode) != 0) {
    return BackendError(path + ": cannot set its mode: " + Errno(errno));
  }
  return dir;
}

Result<UniqueFd> OpenFileBeneath(int dir, std::string_view rel, WriteMode how, mode_t mode,
                                 std::string_view shown_dir) {
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> parts, Components(rel, shown_dir));
  std::string shown;
  BERTH_ASSIGN_OR_RETURN(UniqueFd parent,
                         WalkDirs(dir, parts, parts.size() - 1, false, 0, shown_dir, &shown));
  const std::string& name = parts.back();
  shown = Join(shown, name);
  // O_NONBLOCK: a FIFO planted at the name must not hang the open until a
  // reader comes (it fails with ENXIO, or opens and is refused below).
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  if (how == WriteMode::kAppend) flags |= O_APPEND;
  const int fd = ::openat(parent.get(), name.c_str(), flags, mode);
  if (fd < 0) return Refusal(parent.get(), name, errno, shown, shown_dir, /*want_dir=*/false);
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return BackendError(shown + ": cannot stat: " + Errno(errno));
  if (!S_ISREG(st.st_mode)) {
    return InvalidSpec(shown + ": is " + KindOf(st.st_mode) +
                       ", not a regular file; berth writes only regular files there: remove it");
  }
  if (st.st_nlink > 1) {
    return InvalidSpec(shown + ": has " + std::to_string(st.st_nlink) +
                       " hard links; writing it would change the file under its other names "
                       "too: remove it (berth creates a new one)");
  }
  const int status_flags = ::fcntl(fd, F_GETFL);
  if (status_flags < 0 || ::fcntl(fd, F_SETFL, status_flags & ~O_NONBLOCK) != 0) {
    return BackendError(shown + ": fcntl: " + Errno(errno));
  }
  // Emptied only now that it is known to be berth's own regular file.
  if (how == WriteMode::kTruncate && ::ftruncate(fd, 0) != 0) {
    return BackendError(shown + ": cannot truncate: " + Errno(errno));
  }
  return file;
}

Result<UniqueFd> MakeDirectoryBeneath(int dir, std::string_view rel, mode_t mode,
                                      std::string_view shown_dir) {
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> parts, Components(rel, shown_dir));
  std::string shown;
  return WalkDirs(dir, parts, parts.size(), /*create=*/true, mode, shown_dir, &shown);
}

Status RenameBeneath(int dir, std::string_view from, std::string_view to,
                     std::string_view shown_dir) {
  const std::string shown_to = Join(shown_dir, to);
  if (!IsPlainName(from) || !IsPlainName(to)) {
    return Internal("RenameBeneath: " + Quote(from) + " -> " + Quote(to) +
                    ": names inside the directory, without '/'");
  }
  // rename() would replace a link at `to` without writing through it; it is
  // refused all the same, so that whoever planted it hears about it.
  if (IsSymlinkAt(dir, to)) return SymlinkRefused(dir, to, shown_to, shown_dir);
  if (::renameat(dir, std::string(from).c_str(), dir, std::string(to).c_str()) != 0) {
    return BackendError(shown_to + ": rename failed: " + Errno(errno));
  }
  return Status::Ok();
}

}  // namespace berth::common
