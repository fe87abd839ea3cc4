#include "cli/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/fd_io.h"

namespace berth::cli {
namespace {

Status PathError(std::string_view flag, const std::string& path, const std::string& what, int err) {
  return InvalidSpec(std::string(flag) + " " + path + ": cannot write: " + what + ": " +
                     std::strerror(err) +
                     "; give a file in a folder that exists and you can write");
}

}  // namespace

Status WriteFileAtomically(std::string_view flag, const std::string& path, std::string_view text) {
  if (path.empty()) return InvalidSpec(std::string(flag) + ": the file name is empty; give one");
  if (path.back() == '/') {
    return InvalidSpec(std::string(flag) + " " + path + ": is a folder; give a file name");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return InvalidSpec(std::string(flag) + " " + path + ": is a folder; give a file name");
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmp = (dir == "." ? std::string() : dir) + "." + base + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return PathError(flag, path, "creating a file in " + dir, errno);
  // mkostemp makes it 0600; a map is for sharing, as `>` would make it.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  Status st_write = Status::Ok();
  if (::fchmod(fd, 0666 & ~mask) != 0) {
    st_write = PathError(flag, path, "setting the mode of " + tmp, errno);
  }
  if (st_write.ok()) st_write = common::WriteAll(fd, text, std::string(flag) + " " + path);
  if (st_write.ok() && ::fsync(fd) != 0) {
    st_write =
        BackendError(std::string(flag) + " " + path + ": fsync failed: " + std::strerror(errno));
  }
  if (::close(fd) != 0 && st_write.ok()) {
    st_write =
        BackendError(std::string(flag) + " " + path + ": close failed: " + std::strerror(errno));
  }
  if (st_write.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st_write = PathError(flag, path, "renaming " + tmp + " over it", errno);
  }
  if (!st_write.ok()) ::unlink(tmp.c_str());
  return st_write;
}

}  // namespace berth::cli
