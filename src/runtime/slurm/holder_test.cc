// The holder job's watch of berth, both sides: berth's heartbeat (a new text
// every interval from its own thread, never through a planted link, stopped
// with its owner) and the batch script, run here by /bin/sh with a fake
// scancel: a stale or missing beat ends the job at once, a live one keeps
// it, one that stops ends it after the limit.

#include "runtime/slurm/holder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace berth::runtime::slurm {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Waits (bounded) until `done`; true when it became true.
template <typename F>
bool WaitFor(milliseconds limit, F done) {
  const auto deadline = SteadyClock::now() + limit;
  while (!done()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

class HolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-holder-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    if (script_pid_ > 0) {
      ::kill(script_pid_, SIGKILL);
      ::waitpid(script_pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // Runs the holder script with a fake scancel (it writes its arguments to
  // dir_/scancelled, renamed into place: a reader that sees the file sees
  // all of it) and a job id.
  void StartScript(const std::string& limit, const std::string& every) {
    fs::create_directories(dir_ + "/bin");
    {
      std::ofstream f(dir_ + "/bin/scancel");
      f << "#!/bin/sh\necho \"$@\" > " << dir_ << "/scancelled.tmp && mv " << dir_
        << "/scancelled.tmp " << dir_ << "/scancelled\n";
    }
    fs::permissions(dir_ + "/bin/scancel", fs::perms::owner_all);
    {
      std::ofstream f(dir_ + "/holder.sh");
      f << kHolderScript;
    }
    // posix_spawn, not fork: the heartbeat's thread may hold a lock.
    std::string path = "PATH=" + dir_ + "/bin:/usr/bin:/bin";
    std::string job = "SLURM_JOB_ID=42";
    std::vector<char*> env = {path.data(), job.data(), nullptr};
    std::string sh = "/bin/sh";
    std::string script = dir_ + "/holder.sh";
    std::string hb = dir_ + "/" + kHeartbeatFile;
    std::string lim = limit;
    std::string ev = every;
    std::vector<char*> argv = {sh.data(), script.data(), hb.data(), lim.data(), ev.data(), nullptr};
    const std::string out = dir_ + "/holder.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_EQ(::posix_spawn(&script_pid_, "/bin/sh", &fa, nullptr, argv.data(), env.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  bool Cancelled() const { return fs::exists(dir_ + "/scancelled"); }

  std::string dir_;
  pid_t script_pid_ = -1;
};

TEST_F(HolderTest, ScriptArgumentsAreThePathTheLimitAndTheInterval) {
  EXPECT_EQ(HolderScriptArgs("/r/slurm.heartbeat"),
            (std::vector<std::string>{"/r/slurm.heartbeat", std::to_string(kHeartbeatLimit.count()),
                                      std::to_string(kHeartbeatInterval.count())}));
  // The script cancels its own job and nothing else; it never compares the
  // node's clock with berth's (only two file times, or its own count).
  const std::string script = kHolderScript;
  EXPECT_NE(script.find("scancel \"$SLURM_JOB_ID\""), std::string::npos);
  EXPECT_EQ(script.find("date"), std::string::npos);
  // The limit is well above the interval: a slow disk is not a dead berth.
  EXPECT_GE(kHeartbeatLimit, 5 * kHeartbeatInterval);
}

TEST_F(HolderTest, HeartbeatWritesNewTextEachIntervalUntilDestroyed) {
  Result<std::unique_ptr<Heartbeat>> h = Heartbeat::Start(dir_, milliseconds(20));
  ASSERT_TRUE(h) << h.error().message();
  const std::string path = (*h)->path();
  EXPECT_TRUE(fs::path(path).is_absolute()) << path;
  EXPECT_EQ(fs::path(path).filename(), kHeartbeatFile);
  // The first beat is there before Start returns.
  const std::string first = Slurp(path);
  EXPECT_NE(first.find("berth " + std::to_string(::getpid()) + " beat 1 "), std::string::npos)
      << first;
  ASSERT_TRUE(WaitFor(milliseconds(5000), [&] { return (*h)->beats() >= 3; }));
  EXPECT_NE(Slurp(path), first);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  h->reset();  // stops and joins: the text stays as it was
  const std::string last = Slurp(path);
  std::this_thread::sleep_for(milliseconds(60));  // three intervals: no beat may come
  EXPECT_EQ(Slurp(path), last);
}

TEST_F(HolderTest, HeartbeatNeverWritesThroughAPlantedLink) {
  std::ofstream(dir_ + "/precious") << "keep\n";
  fs::create_symlink(dir_ + "/precious", dir_ + "/" + kHeartbeatFile);
  Result<std::unique_ptr<Heartbeat>> h = Heartbeat::Start(dir_, milliseconds(20));
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find("symbolic link"), std::string::npos) << h.error().message();
  EXPECT_EQ(Slurp(dir_ + "/precious"), "keep\n");
}

TEST_F(HolderTest, ScriptEndsTheJobAtOnceWhenTheBeatIsOld) {
  // berth was killed while the job was pending: its last beat is a minute old.
  const std::string hb = dir_ + "/" + kHeartbeatFile;
  std::ofstream(hb) << "berth 1 beat 7\n";
  fs::last_write_time(hb, fs::file_time_type::clock::now() - std::chrono::seconds(60));
  StartScript("15", "2");
  // "At once": long before the 15 s limit (without the start check, the
  // first cancel could come only after it).
  ASSERT_TRUE(WaitFor(milliseconds(5000), [&] { return Cancelled(); }));
  EXPECT_EQ(Slurp(dir_ + "/scancelled"), "42\n");
  EXPECT_NE(Slurp(dir_ + "/holder.log").find("berth is gone"), std::string::npos);
}

TEST_F(HolderTest, ScriptEndsTheJobAtOnceWhenThereIsNoBeat) {
  StartScript("15", "2");
  ASSERT_TRUE(WaitFor(milliseconds(5000), [&] { return Cancelled(); }));
}

TEST_F(HolderTest, ScriptKeepsTheJobWhileBerthBeatsAndEndsItAfterTheLimit) {
  Result<std::unique_ptr<Heartbeat>> h = Heartbeat::Start(dir_, milliseconds(200));
  ASSERT_TRUE(h) << h.error().message();
  StartScript("2", "1");
  // Three looks with a live berth: no cancel.
  EXPECT_FALSE(WaitFor(milliseconds(3500), [&] { return Cancelled(); }));
  h->reset();  // berth is gone
  const auto gone = SteadyClock::now();
  ASSERT_TRUE(WaitFor(milliseconds(6000), [&] { return Cancelled(); }));
  // Not before the limit: two looks without a change.
  EXPECT_GE(SteadyClock::now() - gone, milliseconds(1500));
}

}  // namespace
}  // namespace berth::runtime::slurm
