#pragma once
// Writing inside a directory berth keeps (a run directory, a log folder)
// without ever following a symbolic link planted in it.
//
// The directory's own path is the caller's and may go through links
// (/home -> /data/home); everything below it is resolved here one component
// at a time, each opened relative to the one before with O_NOFOLLOW, so a
// link anywhere below it (a file, or a folder on the way) is an error that
// names it, and nothing is created, truncated or written through it. The
// walk holds descriptors, not paths: a link swapped in after a check is
// still refused. openat2(RESOLVE_NO_SYMLINKS) would do the walk in one call,
// but needs Linux 5.6 and cannot say which component was the link.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

#include "berth/status.h"

namespace berth::common {

// An owned file descriptor, closed when it goes.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The directory at `path`, opened (O_DIRECTORY|O_CLOEXEC). Links in `path`
// are followed: it is the caller's. With `create`, a missing one is created
// first, `mode` whatever the umask, and its missing parents as mkdir -p
// makes them. Errors (kBackend) name the path.
Result<UniqueFd> OpenDirectory(const std::string& path, bool create, mode_t mode);

// How OpenFileBeneath opens a file for writing.
enum class WriteMode {
  kAppend,    // O_APPEND, created if missing; what is there stays
  kTruncate,  // created if missing, emptied once checked (never before)
};

// `rel` ("logs/actor.0.log", relative, no "." or ".." component) beneath the
// directory `dir`, opened write-only and close-on-exec, created `mode` if
// missing; the folders on the way must exist. Refused (kInvalidSpec, naming
// `shown_dir`/`rel`): a symbolic link at any component, something that is
// not a regular file (a FIFO, a directory, a device; a FIFO never blocks the
// open), and a file with other hard links (writing would change them too).
// `shown_dir` is how errors name `dir` (its path as the user gave it).
Result<UniqueFd> OpenFileBeneath(int dir, std::string_view rel, WriteMode how, mode_t mode,
                                 std::string_view shown_dir);

// The directory `rel` beneath `dir`, created with the folders on the way
// when missing (each new one `mode` whatever the umask), opened. A link or a
// non-directory at any component is refused (kInvalidSpec), naming it.
Result<UniqueFd> MakeDirectoryBeneath(int dir, std::string_view rel, mode_t mode,
                                      std::string_view shown_dir);

// Renames the entry `from` of `dir` to `to` (single names, no '/'),
// atomically replacing `to`. A `to` that is a symbolic link is refused
// (kInvalidSpec) rather than replaced: it was planted, and whoever planted
// it should hear about it. `from` is left in place on an error.
Status RenameBeneath(int dir, std::string_view from, std::string_view to,
                     std::string_view shown_dir);

// The error for a symbolic link found at `shown` (its target read through
// `dir` and `name` when it can be): "<shown>: is a symbolic link (to
// <target>); berth writes nothing through a link inside <shown_dir>: remove
// it". kInvalidSpec: the user removes it.
Status SymlinkRefused(int dir, std::string_view name, std::string_view shown,
                      std::string_view shown_dir);

// The entry `name` of `dir` is a symbolic link (lstat), false when missing.
bool IsSymlinkAt(int dir, std::string_view name);

}  // namespace berth::common
