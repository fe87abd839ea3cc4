#pragma once
// Random names and secrets from the kernel's generator (getrandom(2)).

#include <cstddef>
#include <string>

#include "berth/status.h"

namespace berth::common {

// `bytes` random bytes as 2*bytes lowercase hex digits. Errors (kBackend):
// the kernel's generator failed.
Result<std::string> RandomHex(size_t bytes);

}  // namespace berth::common
