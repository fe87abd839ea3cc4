#pragma once
// Writing to file descriptors: whole buffers, across short writes and EINTR.

#include <string_view>

#include "berth/status.h"

namespace berth::common {

// Writes all of `data` to `fd`, retrying short writes and EINTR. An error
// (the descriptor closed, a full disk, a broken pipe) is a BackendError that
// names `what` (a path or a stream's name) and the system's reason.
Status WriteAll(int fd, std::string_view data, std::string_view what);

}  // namespace berth::common
