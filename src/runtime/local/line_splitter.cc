#include "runtime/local/line_splitter.h"

namespace berth::runtime::local {

void LineSplitter::Emit(std::string_view line, std::string* out) {
  out->append(prefix_);
  out->append(line);
  out->push_back('\n');
}

std::string LineSplitter::Feed(std::string_view bytes) {
  std::string out;
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    size_t room = max_line_ - partial_.size();
    if (nl == std::string_view::npos || nl > room) {
      if (bytes.size() < room) {
        partial_.append(bytes);
        break;
      }
      // Too long for one line: cut it at max_line.
      partial_.append(bytes.substr(0, room));
      bytes.remove_prefix(room);
      Emit(partial_, &out);
      partial_.clear();
      continue;
    }
    if (partial_.empty()) {
      Emit(bytes.substr(0, nl), &out);
    } else {
      partial_.append(bytes.substr(0, nl));
      Emit(partial_, &out);
      partial_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
  return out;
}

std::string LineSplitter::Flush() {
  std::string out;
  if (!partial_.empty()) Emit(partial_, &out);
  partial_.clear();
  return out;
}

}  // namespace berth::runtime::local
