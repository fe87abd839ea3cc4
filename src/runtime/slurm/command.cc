#include "runtime/slurm/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigset_t, sigemptyset
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "runtime/slurm/slurm_parse.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX: the program declares it

namespace berth::runtime::slurm {
namespace {

using Clock = std::chrono::steady_clock;

std::string Joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

Result<PipedChild> SpawnPiped(const std::vector<std::string>& argv, bool own_group) {
  if (argv.empty()) return Internal("SpawnPiped: empty argv");
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return BackendError("pipe: " + std::string(strerror(errno)));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return BackendError("pipe: " + std::string(strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The command starts with no signal blocked, whatever the caller blocks
  // (berth run reads its stop signals from a signalfd, with them blocked).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  int flags = POSIX_SPAWN_SETSIGMASK;
  if (own_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, static_cast<int16_t>(flags));
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    return BackendError(
        "cannot run " + argv[0] + ": " + strerror(rc) +
        (rc == ENOENT ? " (is Slurm's client installed? scripts/install-deps.sh)" : ""));
  }
  return PipedChild{pid, out[0], err[0]};
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(PipedChild child, SpawnPiped(argv, /*own_group=*/false));
  const pid_t pid = child.pid;
  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  bool too_long = false;
  pollfd fds[2] = {{child.out, POLLIN, 0}, {child.err, POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0 && !too_long) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (pollfd& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      const ssize_t n = ::read(p.fd, buf, sizeof buf);
      if (n > 0) {
        std::string& to = p.fd == child.out ? result.out : result.err;
        if (to.size() + static_cast<size_t>(n) > kMaxCommandOutput) {
          too_long = true;
          break;
        }
        to.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  if (too_long) ::kill(pid, SIGKILL);
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (too_long) {
    return BackendError(Joined(argv) + ": printed more than " +
                        std::to_string(kMaxCommandOutput >> 20) +
                        " MiB on one stream; killed (berth reads at most that much of a Slurm "
                        "command's output)");
  }
  if (timed_out) {
    result.exit_code = 124;
    result.err +=
        "\n" + argv[0] + ": no answer within " + std::to_string(timeout.count()) + " ms; killed";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

namespace {

class SystemRunner final : public CommandRunner {
 public:
  Result<CommandResult> Run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) override {
    return RunCommand(argv, timeout);
  }
};

}  // namespace

CommandRunner& CommandRunner::System() {
  static SystemRunner runner;  // stateless
  return runner;
}

Result<std::string> RunClient(CommandRunner& runner, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout) {
  BERTH_ASSIGN_OR_RETURN(CommandResult r, runner.Run(argv, timeout));
  if (r.exit_code != 0) return ClientError(Joined(argv), r.exit_code, r.err);
  return r.out;
}

}  // namespace berth::runtime::slurm
