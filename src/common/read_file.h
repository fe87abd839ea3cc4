#pragma once
// Reading the files a user names on the command line.

#include <cstddef>
#include <string>

#include "berth/status.h"

namespace berth::common {

// The whole file. The error names the file as the user typed it, with the
// system's reason (kInvalidSpec: the user gave a path that does not work).
Result<std::string> ReadFile(const std::string& path);

// `file` as written inside `referrer` (an experiment naming its cluster
// file): a relative path is relative to the referrer's folder, so that the
// two can be moved together.
std::string BesideFile(const std::string& referrer, const std::string& file);

// The last `lines` lines of a log, each indented as "    | line\n"; a
// note when the file is empty or cannot be read. For error messages.
std::string LogTail(const std::string& path, size_t lines);

}  // namespace berth::common
