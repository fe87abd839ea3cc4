#pragma once
// Cuts a worker's output stream into whole lines for the merged log.

#include <cstddef>
#include <string>
#include <string_view>

namespace berth::runtime::local {

// Feed() bytes as they arrive; it returns the whole lines completed so far,
// each as "<prefix><line>\n", concatenated (so they can go out in one write).
// A line longer than max_line is cut after max_line bytes. Flush() returns the
// pending partial line with a '\n' added (at end of stream).
class LineSplitter {
 public:
  explicit LineSplitter(std::string prefix, size_t max_line = size_t{64} * 1024)
      : prefix_(std::move(prefix)), max_line_(max_line) {}

  std::string Feed(std::string_view bytes);
  std::string Flush();

 private:
  void Emit(std::string_view line, std::string* out);
  std::string prefix_;
  size_t max_line_;
  std::string partial_;
};

}  // namespace berth::runtime::local
