#pragma once
// A file the user named on the command line (`berth plan --html FILE`),
// written whole or not at all: into a temporary file beside it, then renamed
// over it, so that a reader (a browser, a CI artifact upload) never sees half
// a file and a failed write leaves the old one as it was.

#include <string>
#include <string_view>

#include "berth/status.h"

namespace berth::cli {

// Writes `text` to `path` (mode 0666 less the umask, as a shell's `>` would).
// `flag` names the option in errors ("--html"). Errors name the flag, the
// path and the system's reason: kInvalidSpec where the path cannot be
// written (its folder is missing or not writable, it is a folder), kBackend
// where the write itself fails (a full disk). Nothing is left behind on an
// error.
Status WriteFileAtomically(std::string_view flag, const std::string& path, std::string_view text);

}  // namespace berth::cli
