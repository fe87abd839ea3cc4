#pragma once
// `berth place`: applies an ops file to a cluster and prints the final state.

#include <string>

namespace berth::cli {

struct PlaceOptions {
  std::string cluster_path;
  std::string ops_path;
  bool compact = false;         // one-line JSON instead of the indented form
  std::string format = "json";  // "json", or "text" for people
};

// Exit codes, shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;  // a bug in berth, or stdout failed
inline constexpr int kExitBadInput = 2;  // bad flags, unreadable or invalid files

// Prints one JSON document on stdout and returns kExitOk, or prints one error
// line on stderr, nothing on stdout, and returns kExitBadInput (or
// kExitInternal).
int RunPlace(const PlaceOptions& options);

}  // namespace berth::cli
