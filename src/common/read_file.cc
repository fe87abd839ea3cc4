#include "common/read_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>

namespace berth::common {

Result<std::string> ReadFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return InvalidSpec(path + ": cannot read: " + std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  // fopen succeeds on a directory; the read is what fails (EISDIR).
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) return InvalidSpec(path + ": cannot read: " + std::strerror(err));
  return text;
}

std::string BesideFile(const std::string& referrer, const std::string& file) {
  if (file.empty() || file[0] == '/') return file;
  const size_t slash = referrer.rfind('/');
  return slash == std::string::npos ? file : referrer.substr(0, slash + 1) + file;
}

std::string LogTail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "    (cannot read " + path + ")\n";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const std::string& l : last) out += "    | " + l + "\n";
  return out.empty() ? "    (the log is empty)\n" : out;
}

}  // namespace berth::common
