#include "common/read_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <string_view>

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
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "    (cannot read " + path + ")\n";
  const std::streamoff size = in.tellg();
  const auto window = static_cast<std::streamoff>(lines * (kMaxTailLineBytes + 1));
  const std::streamoff start = size > window ? size - window : 0;
  in.seekg(start);
  std::string text(static_cast<size_t>(size - start), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  // Lines, the last one without its '\n'; the first is cut when the window
  // starts inside it.
  std::deque<std::string_view> last;
  std::string_view rest = text;
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  bool first_cut = start > 0;
  while (!text.empty()) {
    const size_t nl = rest.rfind('\n');
    last.push_front(nl == std::string_view::npos ? rest : rest.substr(nl + 1));
    if (nl == std::string_view::npos) break;
    rest = rest.substr(0, nl);
    if (last.size() == lines) {
      first_cut = false;  // the lines kept are whole
      break;
    }
  }
  std::string out;
  for (size_t i = 0; i < last.size(); ++i) {
    std::string_view line = last[i];
    const bool cut = line.size() > kMaxTailLineBytes || (i == 0 && first_cut);
    if (line.size() > kMaxTailLineBytes) line = line.substr(line.size() - kMaxTailLineBytes);
    out += "    | ";
    if (cut) out += "[cut] ";
    out.append(line);
    out += '\n';
  }
  return out.empty() ? "    (the log is empty)\n" : out;
}

}  // namespace berth::common
