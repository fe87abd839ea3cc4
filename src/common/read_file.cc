#include "common/read_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>

namespace berth::common {

namespace {

std::string Mib(size_t bytes) {
  return bytes % (size_t{1} << 20) == 0 ? std::to_string(bytes >> 20) + " MiB"
                                        : std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t limit, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return InvalidSpec(path + ": cannot read: " + std::strerror(errno));
  const auto too_big = [&](const std::string& size) {
    return InvalidSpec(path + ": " + size + ", over the limit of " + Mib(limit) + " for " +
                       std::string(what) + "; is it the right file?");
  };
  // A regular file says its size: refused before anything is read.
  struct stat st {};
  if (::fstat(::fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) > limit) {
    std::fclose(f);
    return too_big(std::to_string(st.st_size) + " bytes");
  }
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (text.size() + n > limit) {  // a device or a pipe: no size until it is read
      std::fclose(f);
      return too_big("more than " + Mib(limit));
    }
    text.append(buf, n);
  }
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
