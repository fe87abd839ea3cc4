// `berth events RUN_DIR [--follow] [--json]`: the run's events.jsonl as
// lines a person reads (or as written), and with --follow the ones that come
// while its berth runs.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "berth/clock.h"
#include "formats/run_state.h"
#include "run/events_log.h"
#include "run/runner.h"

namespace berth::run {
namespace {

using std::chrono::milliseconds;

// A longer line (a restart failure quoting a whole log tail is far below
// it) is shown by its start and marked.
constexpr size_t kMaxEventLine = 1 << 20;

std::string Human(const std::string& line) {
  nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!e.is_object()) return "(not an event) " + line;
  auto text = [&](const char* key) {
    auto it = e.find(key);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string time = text("time");
  // 2026-12-03T15:40:02.125Z -> 15:40:02.125
  if (time.size() == 24) time = time.substr(11, 12);
  char head[160];
  std::snprintf(head, sizeof head, "%-12s  %-14s  %-16s %-10s", time.c_str(), text("kind").c_str(),
                text("worker").c_str(), text("node").c_str());
  std::string out = head;
  const std::string cause = text("cause");
  if (!cause.empty()) out += "  " + cause.substr(0, cause.find('\n'));
  auto restarts = e.find("restarts");
  if (restarts != e.end() && restarts->is_number_integer() && restarts->get<int>() > 0) {
    out += "  [restart " + std::to_string(restarts->get<int>());
    auto wait = e.find("wait_s");
    if (wait != e.end() && wait->is_number()) {
      char w[32];
      std::snprintf(w, sizeof w, ", in %g s", wait->get<double>());
      out += w;
    }
    out += "]";
  }
  return out;
}

bool Alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

int ShowEvents(const std::string& run_dir, bool follow, bool json) {
  const std::string path = run_dir + "/" + kEventsName;
  Result<formats::RunState> state = formats::ReadState(run_dir);
  if (!state) {
    std::fprintf(stderr, "berth events: %s\n", state.error().message().c_str());
    return 2;
  }
  // Read only: a link is followed no further than any reader's would be,
  // and nothing is written.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno != ENOENT) {
    std::fprintf(stderr, "berth events: %s: %s\n", path.c_str(), std::strerror(errno));
    return 2;
  }
  size_t shown = 0;     // lines printed
  std::string pending;  // a line not yet ended
  bool cut = false;     // the current line is over kMaxEventLine
  auto drain = [&] {
    char buf[65536];
    while (fd >= 0) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\n') {
          if (pending.size() < kMaxEventLine) {
            pending.push_back(buf[i]);
          } else {
            cut = true;
          }
          continue;
        }
        const std::string line = json ? pending : Human(pending);
        std::printf("%s%s\n", line.c_str(), cut ? " [cut]" : "");
        ++shown;
        pending.clear();
        cut = false;
      }
    }
    std::fflush(stdout);
  };
  drain();
  if (follow) {
    Clock& clock = Clock::System();
    // Until its berth is gone (then what it wrote last), or Ctrl-C.
    while (Alive(state->berth_pid)) {
      clock.SleepFor(milliseconds(200));
      if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      drain();
    }
    drain();
  } else if (shown == 0 && !json) {
    std::printf("no events in %s yet\n", run_dir.c_str());
  }
  if (fd >= 0) ::close(fd);
  return 0;
}

}  // namespace berth::run
