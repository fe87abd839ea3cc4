#pragma once
// Reading the files a user names on the command line.

#include <cstddef>
#include <string>
#include <string_view>

#include "berth/status.h"

namespace berth::common {

// Input files are read whole, so each kind has a size limit: a file over it
// (or /dev/zero) is refused before it fills the memory.
inline constexpr size_t kMaxExperimentBytes = size_t{4} << 20;  // roles: kilobytes in practice
inline constexpr size_t kMaxJsonInputBytes = size_t{64} << 20;  // clusters, ops: 9 MB per 100k ops

// The whole file, at most `limit` bytes. Errors (kInvalidSpec: the user gave
// a path that does not work) name the file as the user typed it, with the
// system's reason, or its size and the limit for `what` ("an experiment
// file").
Result<std::string> ReadFile(const std::string& path, size_t limit, std::string_view what);

// `file` as written inside `referrer` (an experiment naming its cluster
// file): a relative path is relative to the referrer's folder, so that the
// two can be moved together.
std::string BesideFile(const std::string& referrer, const std::string& file);

// The last `lines` lines of a log, each indented as "    | line\n"; a
// note when the file is empty or cannot be read. For error messages, which
// go to stderr, state.json and the control API: bounded whatever the worker
// wrote. Only the end of the file is read (lines * (kMaxTailLineBytes + 1)
// bytes at most), and a line longer than kMaxTailLineBytes keeps its last
// kMaxTailLineBytes bytes after a "[cut] " mark.
inline constexpr size_t kMaxTailLineBytes = 4096;
std::string LogTail(const std::string& path, size_t lines);

}  // namespace berth::common
