// Integration: whatever way berth ends, nothing it started survives, even
// grandchildren that changed session or were double-forked away.
// Runs tests/runtime/orphan_harness.cc as the "berth" under test.

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Proc {
  int pid;
  int ppid;
  int sid;
  std::string marker;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Live (non-zombie) processes whose BERTH_SUPERVISOR_TOKEN starts with
// `prefix`: an independent scan of /proc, not the one under test.
std::vector<Proc> Marked(const std::string& prefix) {
  std::vector<Proc> out;
  const std::string var = "BERTH_SUPERVISOR_TOKEN=" + prefix;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string dir = "/proc/" + std::string(e->d_name);
    std::string stat = ReadAll(dir + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    char state;
    int ppid, pgid, sid;
    fields >> state >> ppid >> pgid >> sid;
    if (state == 'Z' || state == 'X') continue;
    std::string env = ReadAll(dir + "/environ");
    for (size_t pos = 0; pos < env.size();) {
      size_t nul = env.find('\0', pos);
      if (nul == std::string::npos) nul = env.size();
      if (env.compare(pos, var.size(), var) == 0) {
        out.push_back({static_cast<int>(pid), ppid, sid, env.substr(pos + 23, nul - pos - 23)});
      }
      pos = nul + 1;
    }
  }
  if (d) closedir(d);
  return out;
}

bool Running(int pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat[close + 2] != 'X';
}

std::string Describe(const std::vector<Proc>& procs) {
  std::string out;
  for (const Proc& p : procs) {
    std::string cmd = ReadAll("/proc/" + std::to_string(p.pid) + "/cmdline");
    for (char& c : cmd) {
      if (c == '\0') c = ' ';
    }
    out += std::to_string(p.pid) + " [" + p.marker + "] " + cmd + "\n";
  }
  return out;
}

struct Harness {
  int pid = -1;
  std::string token;
  int supervisor = -1;
};

class NoOrphansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth_no_orphans_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (harness_.pid > 0) {
      kill(harness_.pid, SIGKILL);
      waitpid(harness_.pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts the harness and waits (bounded) for its "ready" line.
  void Launch(const std::string& mode) {
    int out[2];
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::string prog = BERTH_ORPHAN_HARNESS;
    std::vector<char*> argv = {prog.data(), const_cast<char*>(mode.c_str()), dir_.data(), nullptr};
    pid_t pid;
    int rc = posix_spawn(&pid, prog.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    ASSERT_EQ(rc, 0) << prog;
    harness_.pid = pid;
    std::string line;
    auto deadline = Clock::now() + std::chrono::seconds(15);
    while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    std::istringstream in(line);
    std::string word;
    in >> word >> harness_.token >> harness_.supervisor;
    ASSERT_EQ(word, "ready") << "harness said: " << line;
    ASSERT_EQ(harness_.token.size(), 32u);
  }

  // The harness's processes as it reported them ready: 3 workers with at
  // least 4 processes each; per worker a grandchild leading its own session
  // (setsid) and one re-parented to the supervisor (double fork).
  void ExpectEscapedGrandchildren() {
    std::vector<Proc> procs = Marked(harness_.token + "/");
    EXPECT_GE(procs.size(), 12u) << Describe(procs);
    int own_session = 0, adopted = 0;
    for (const Proc& p : procs) {
      own_session += p.sid == p.pid;
      adopted += p.ppid == harness_.supervisor;
    }
    EXPECT_GE(own_session, 3) << Describe(procs);
    EXPECT_GE(adopted, 6) << "3 workers + 3 double-forked grandchildren\n" << Describe(procs);
  }

  // Waits (bounded) for the harness to end; returns its wait status.
  int Reap(milliseconds limit) {
    auto deadline = Clock::now() + limit;
    int status = -1;
    while (Clock::now() < deadline) {
      if (waitpid(harness_.pid, &status, WNOHANG) == harness_.pid) {
        harness_.pid = -1;
        return status;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    ADD_FAILURE() << "harness did not end within " << limit.count() << " ms";
    return -1;
  }

  // Nothing carrying the token and no supervisor within `limit`.
  void ExpectNothingLeft(milliseconds limit) {
    auto deadline = Clock::now() + limit;
    std::vector<Proc> left;
    do {
      left = Marked(harness_.token + "/");
      if (left.empty() && !Running(harness_.supervisor)) return;
      std::this_thread::sleep_for(milliseconds(20));
    } while (Clock::now() < deadline);
    ADD_FAILURE() << "left after " << limit.count() << " ms (supervisor " << harness_.supervisor
                  << (Running(harness_.supervisor) ? " running" : " gone") << "):\n"
                  << Describe(left);
    for (const Proc& p : left) kill(p.pid, SIGKILL);  // do not leak into other tests
  }

  std::string dir_;
  Harness harness_;
};

TEST_F(NoOrphansTest, SigkilledBerthLeavesNothing) {
  Launch("kill");
  ExpectEscapedGrandchildren();
  ASSERT_EQ(kill(harness_.pid, SIGKILL), 0);
  int status = Reap(milliseconds(5000));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ExpectNothingLeft(milliseconds(5000));
}

TEST_F(NoOrphansTest, ReturnFromMainLeavesNothing) {
  Launch("return");
  int status = Reap(milliseconds(10000));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The destructor tore everything down before the harness exited.
  EXPECT_EQ(Marked(harness_.token + "/").size(), 0u);
  ExpectNothingLeft(milliseconds(5000));
}

TEST_F(NoOrphansTest, ReturnWithoutDestructorLeavesNothing) {
  Launch("leak-return");
  int status = Reap(milliseconds(5000));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ExpectNothingLeft(milliseconds(5000));
}

TEST_F(NoOrphansTest, ExitOnErrorLeavesNothing) {
  Launch("exit1");
  int status = Reap(milliseconds(5000));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  ExpectNothingLeft(milliseconds(5000));
}

}  // namespace
}  // namespace berth
