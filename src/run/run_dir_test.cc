// The run directory of `berth run`: one run holds it at a time, and links
// planted where berth writes are refused before anything is written.

#include "run/run_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace berth::run {
namespace {

namespace fs = std::filesystem;

class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-run-dir-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    run_ = base_ + "/runs/demo";
    fs::create_directories(base_ + "/outside");
    std::ofstream(base_ + "/outside/precious") << "precious\n";
  }
  void TearDown() override { fs::remove_all(base_); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void ExpectOutsideUntouched() {
    EXPECT_EQ(Read(base_ + "/outside/precious"), "precious\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(base_ + "/outside"), fs::directory_iterator()),
              1);
  }
  // A run dir that exists, with a link planted at `rel` to the precious file.
  void Plant(const std::string& rel) {
    fs::create_directories(run_ + "/logs");
    fs::create_symlink(base_ + "/outside/precious", run_ + "/" + rel);
  }

  std::string base_, run_;
};

TEST_F(RunDirTest, CreatesThePrivateDirectoryItsLogsAndTheLockNamingThisBerth) {
  const mode_t old = ::umask(0);
  Result<RunDirectory> dir = RunDirectory::Take(run_);
  ::umask(old);
  ASSERT_TRUE(dir) << dir.error().message();
  EXPECT_EQ(fs::status(run_).permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(run_ + "/logs").permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(run_ + "/berth.lock").permissions(),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Read(run_ + "/berth.lock").rfind("pid " + std::to_string(getpid()) + "\nstarted ", 0),
            0U);
  EXPECT_EQ(dir->path(), run_);
  EXPECT_GE(dir->fd(), 0);
}

TEST_F(RunDirTest, ASecondRunIsRefusedNamingTheFirstsPidUntilTheFirstEnds) {
  std::optional<RunDirectory> first;
  {
    Result<RunDirectory> taken = RunDirectory::Take(run_);
    ASSERT_TRUE(taken) << taken.error().message();
    first = std::move(taken).value();
  }
  const std::string lock_text = Read(run_ + "/berth.lock");
  // flock conflicts between two opens of the file, in one process too.
  Result<RunDirectory> second = RunDirectory::Take(run_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
  const std::string& m = second.error().message();
  EXPECT_EQ(m.rfind("run dir " + run_ + " is in use by berth pid " + std::to_string(getpid()) +
                        " (started ",
                    0),
            0U)
      << m;
  EXPECT_NE(m.find("); stop it with `berth down " + run_ + "` or pick another run_dir"),
            std::string::npos)
      << m;
  EXPECT_EQ(Read(run_ + "/berth.lock"), lock_text) << "the refused run changed the lock file";

  first.reset();  // the first run ends: the directory is free again
  EXPECT_TRUE(RunDirectory::Take(run_));
}

TEST_F(RunDirTest, LockHolderNamesTheBerthThatHoldsItWithoutTakingIt) {
  EXPECT_EQ(RunDirectory::LockHolder(run_), std::nullopt) << "no directory yet";
  std::optional<RunDirectory> held;
  {
    Result<RunDirectory> taken = RunDirectory::Take(run_);
    ASSERT_TRUE(taken) << taken.error().message();
    held = std::move(taken).value();
  }
  EXPECT_EQ(RunDirectory::LockHolder(run_), getpid());
  // Asking took nothing: the holder keeps it, and once it lets go a new
  // run takes it at once.
  EXPECT_FALSE(RunDirectory::Take(run_));
  held.reset();
  EXPECT_EQ(RunDirectory::LockHolder(run_), std::nullopt) << "the lock file stays, unheld";
  EXPECT_TRUE(RunDirectory::Take(run_));
}

TEST_F(RunDirTest, ALinkWhereBerthWritesIsRefusedByName) {
  const std::vector<std::string> planted = {"state.json", "merged.log", "logs/actor.0.log",
                                            "berth.lock",
                                            "state.json.tmp." + std::to_string(getpid())};
  for (const std::string& rel : planted) {
    SCOPED_TRACE(rel);
    fs::remove_all(run_);
    Plant(rel);
    Result<RunDirectory> dir = RunDirectory::Take(run_);
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_EQ(dir.error().message().rfind(run_ + "/" + rel + ": is a symbolic link (to '" + base_ +
                                              "/outside/precious'); berth writes nothing",
                                          0),
              0U)
        << dir.error().message();
    ExpectOutsideUntouched();
  }
}

TEST_F(RunDirTest, LogsAsALinkToAnotherFolderIsRefused) {
  fs::create_directories(run_);
  fs::create_directory_symlink(base_ + "/outside", run_ + "/logs");
  Result<RunDirectory> dir = RunDirectory::Take(run_);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message().rfind(run_ + "/logs: is a symbolic link", 0), 0U)
      << dir.error().message();
  ExpectOutsideUntouched();
}

TEST_F(RunDirTest, TheRunDirsOwnPathMayGoThroughALink) {
  fs::create_directories(run_);
  fs::create_directory_symlink(run_, base_ + "/latest");
  Result<RunDirectory> dir = RunDirectory::Take(base_ + "/latest");
  ASSERT_TRUE(dir) << dir.error().message();
  EXPECT_TRUE(fs::is_directory(run_ + "/logs"));
  EXPECT_TRUE(fs::is_regular_file(run_ + "/berth.lock"));
}

}  // namespace
}  // namespace berth::run
