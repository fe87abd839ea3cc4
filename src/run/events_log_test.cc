#include "run/events_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/safe_open.h"

namespace berth::run {
namespace {

namespace fs = std::filesystem;

TEST(EventsLogTest, OneJsonObjectALine) {
  RecoveryEvent e{RecoveryEvent::Kind::kRestartIn,
                  "rollout",
                  "rollout/1",
                  "node2",
                  "worker rollout/1 exited with code 3",
                  2,
                  4};
  EXPECT_EQ(EventLine(EventJson(e, "2026-12-03T15:40:02.125Z")),
            R"({"time":"2026-12-03T15:40:02.125Z","kind":"restart_in","role":"rollout",)"
            R"("worker":"rollout/1","node":"node2","cause":"worker rollout/1 exited with code 3",)"
            R"("restarts":2,"wait_s":4.0})");
  // Bytes that are not UTF-8 do not lose the line.
  e.kind = RecoveryEvent::Kind::kGivenUp;
  e.cause = "bad \xff byte";
  const std::string line = EventLine(EventJson(e, "t"));
  EXPECT_NE(line.find(R"("cause":"bad )"), std::string::npos) << line;
  EXPECT_EQ(line.find("wait_s"), std::string::npos);
}

class EventsLogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("berth-events-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fd_ = ::open(dir_.c_str(), O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    ::close(fd_);
    fs::remove_all(dir_);
  }
  fs::path dir_;
  int fd_ = -1;
};

TEST_F(EventsLogFileTest, CreatesItPrivateThenAppends) {
  for (int i = 0; i < 2; ++i) {
    Result<EventsLog> log = EventsLog::Open(fd_, dir_.string());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE(log->Append(EventJson({RecoveryEvent::Kind::kFailed, "r", "r/0", "local", "c", i},
                                      UtcNow()))
                    .ok());
  }
  EXPECT_EQ(fs::status(dir_ / "events.jsonl").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  std::ifstream in(dir_ / "events.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_NE(line.find("\"restarts\":" + std::to_string(lines)), std::string::npos) << line;
    ++lines;
  }
  EXPECT_EQ(lines, 2);
}

TEST_F(EventsLogFileTest, APlantedLinkIsRefusedAndNothingIsWrittenThroughIt) {
  const fs::path outside = dir_ / "outside";
  std::ofstream(outside) << "keep\n";
  fs::create_directories(dir_ / "run");
  fs::create_symlink(outside, dir_ / "run" / "events.jsonl");
  const int run = ::open((dir_ / "run").c_str(), O_DIRECTORY | O_CLOEXEC);
  Result<EventsLog> log = EventsLog::Open(run, (dir_ / "run").string());
  ::close(run);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message().find("events.jsonl: is a symbolic link"), std::string::npos)
      << log.error().message();
  std::ifstream in(outside);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "keep\n");
}

}  // namespace
}  // namespace berth::run
