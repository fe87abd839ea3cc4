#include "runtime/slurm/node_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX kill
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "runtime/slurm/command.h"

namespace berth::runtime::slurm {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Each task prints its node's name every second, with " slurmd" after it
// while its node's slurmd does not answer `scontrol show slurmd` (a local,
// authenticated request: slurmd logs nothing for it). Where that request
// fails from the start (no scontrol there), the name alone is printed.
constexpr char kWatchScript[] =
    "p=; scontrol show slurmd >/dev/null 2>&1 && p=1; "
    "while :; do if [ -z \"$p\" ] || scontrol show slurmd >/dev/null 2>&1; "
    "then echo \"$SLURMD_NODENAME\"; else echo \"$SLURMD_NODENAME slurmd\"; fi; sleep 1; done";
constexpr size_t kMaxLine = 256;   // a node name; longer lines are not ours
constexpr size_t kErrTail = 4096;  // what is kept of srun's stderr

void CloseBoth(const int fds[2]) {
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace

std::vector<std::string> WatchStepArgv(const std::string& job_id,
                                       const std::vector<int>& het_groups,
                                       const std::vector<std::string>& nodes) {
  std::vector<std::string> a = {"srun", "--jobid=" + job_id};
  if (!het_groups.empty()) {
    // Each component holds one node and one task: the step gets both.
    std::string groups;
    for (int g : het_groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
    a.push_back("--het-group=" + groups);
  } else {
    std::string list;
    for (const std::string& n : nodes) list += (list.empty() ? "" : ",") + n;
    a.insert(a.end(), {"--nodes=" + std::to_string(nodes.size()), "--ntasks-per-node=1",
                       "--nodelist=" + list});
  }
  a.insert(a.end(), {"--overlap", "--unbuffered", "--job-name=berth-node-watch", "--", "/bin/sh",
                     "-c", kWatchScript});
  return a;
}

NodeSilence::NodeSilence(std::vector<std::string> nodes, milliseconds limit)
    : limit_(limit), order_(std::move(nodes)) {}

void NodeSilence::Heard(std::string_view line, TimePoint now) {
  // "NODE" or "NODE slurmd"; anything else names no node.
  constexpr std::string_view kGone = " slurmd";
  const bool slurmd_gone = line.size() > kGone.size() && line.ends_with(kGone);
  const std::string_view node = slurmd_gone ? line.substr(0, line.size() - kGone.size()) : line;
  for (const std::string& n : order_) {
    if (n != node) continue;
    if (slurmd_gone) {
      // Not an answer: the node's slurmd is gone. The first such line makes
      // sure the node is judged, even if its task never printed a good one.
      slurmd_gone_.insert(n);
      last_.try_emplace(n, now);
    } else {
      slurmd_gone_.erase(n);
      last_[n] = now;
    }
    return;
  }
}

bool NodeSilence::slurmd_gone(std::string_view node) const {
  return slurmd_gone_.find(node) != slurmd_gone_.end();
}

std::vector<std::pair<std::string, milliseconds>> NodeSilence::Silent(TimePoint now) const {
  std::vector<std::pair<std::string, milliseconds>> out;
  for (const std::string& n : order_) {
    auto it = last_.find(n);
    if (it == last_.end()) continue;
    const auto quiet = std::chrono::duration_cast<milliseconds>(now - it->second);
    if (quiet > limit_) out.emplace_back(n, quiet);
  }
  return out;
}

bool NodeSilence::heard_any() const { return !last_.empty(); }

std::optional<NodeSilence::TimePoint> NodeSilence::last_heard(std::string_view node) const {
  auto it = last_.find(node);
  if (it == last_.end()) return std::nullopt;
  return it->second;
}

std::string LostNodeText(const std::string& node, milliseconds quiet, bool slurmd_gone,
                         const std::string& slurm_says, const std::string& workers) {
  char quiet_s[32];
  std::snprintf(quiet_s, sizeof quiet_s, "%.1f", static_cast<double>(quiet.count()) / 1000);
  const std::string why =
      slurmd_gone
          ? "its slurmd has not answered for " + std::string(quiet_s) +
                " s (berth's watch task there still runs, but Slurm can neither start nor stop "
                "anything on the node)"
          : "berth's watch step there has been silent for " + std::string(quiet_s) +
                " s (the node crashed or was cut off, or its slurmd and job steps were killed)";
  const std::string lost = "; workers lost with it: " + (workers.empty() ? "none" : workers);
  // Slurm knew first (a node set down, say): no silence to speak of.
  if (quiet.count() == 0) return "node " + node + " is lost: Slurm calls it " + slurm_says + lost;
  return "node " + node + " stopped answering: " + why + "; Slurm still calls it " + slurm_says +
         " (it marks a silent node down only after its SlurmdTimeout)" + lost;
}

Result<std::unique_ptr<NodeWatch>> NodeWatch::Start(const std::string& job_id,
                                                    const std::vector<int>& het_groups,
                                                    const std::vector<std::string>& nodes,
                                                    milliseconds silence) {
  const std::vector<std::string> argv = WatchStepArgv(job_id, het_groups, nodes);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) return BackendError("pipe: " + std::string(strerror(errno)));
  // A process group of its own: Ctrl-C on berth's terminal is berth's to handle.
  Result<PipedChild> child = SpawnPiped(argv, /*own_group=*/true);
  if (!child) {
    CloseBoth(wake);
    return child.error().WithPrefix("the node watch step: ");
  }
  std::unique_ptr<NodeWatch> w(
      new NodeWatch(nodes, silence, child->pid, child->out, child->err, wake));
  w->reader_ = std::thread([p = w.get()] { p->Read(); });
  return w;
}

NodeWatch::NodeWatch(const std::vector<std::string>& nodes, milliseconds silence, pid_t pid,
                     int out, int err, const int wake[2])
    : pid_(pid), out_(out), err_(err), wake_{wake[0], wake[1]}, silence_(nodes, silence) {}

NodeWatch::~NodeWatch() {
  // SIGKILL at once: an srun whose node is gone ignores SIGTERM, and the
  // tasks it leaves end with the job, which berth cancels next (or which ends
  // itself without berth's heartbeat).
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  const char x = 'x';
  (void)::write(wake_[1], &x, 1);
  if (reader_.joinable()) reader_.join();
  ::close(out_);
  ::close(err_);
  CloseBoth(wake_);
}

std::vector<std::pair<std::string, milliseconds>> NodeWatch::Silent() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (eof_) return {};  // the step ended (the job did): silence says nothing
  return silence_.Silent(SteadyClock::now());
}

bool NodeWatch::SlurmdGone(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  return silence_.slurmd_gone(node);
}

bool NodeWatch::HeardAfter(const std::string& node, SteadyClock::time_point t) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<NodeSilence::TimePoint> last = silence_.last_heard(node);
  return last && *last > t;
}

std::string NodeWatch::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!eof_) return {};
  std::string why = err_text_;
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  return why.empty() ? "its srun ended" : why;
}

void NodeWatch::Read() {
  pollfd fds[3] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  std::string line;
  char buf[4096];
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) return;  // stopping
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        fds[i].fd = -1;  // closed by the destructor
        --open_fds;
        continue;
      }
      const auto now = SteadyClock::now();
      std::lock_guard<std::mutex> lock(mu_);
      if (i == 1) {
        err_text_.append(buf, static_cast<size_t>(n));
        if (err_text_.size() > kErrTail) err_text_.erase(0, err_text_.size() - kErrTail);
        continue;
      }
      for (ssize_t k = 0; k < n; ++k) {
        if (buf[k] != '\n') {
          if (line.size() <= kMaxLine) line += buf[k];
          continue;
        }
        if (line.size() <= kMaxLine) silence_.Heard(line, now);
        line.clear();
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  eof_ = true;
}

}  // namespace berth::runtime::slurm
