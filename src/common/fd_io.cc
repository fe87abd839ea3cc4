#include "common/fd_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth::common {

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return BackendError(std::string(what) +
                          ": write failed: " + std::strerror(n < 0 ? errno : EIO));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace berth::common
