// Writing inside a directory berth keeps: every planted link, link to a
// folder, FIFO or hard link is refused by name, and nothing is written,
// created or truncated through it.

#include "common/safe_open.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/fd_io.h"

namespace berth::common {
namespace {

namespace fs = std::filesystem;

class SafeOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "berth-safe-open-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    run_ = base_ + "/run";
    outside_ = base_ + "/outside";
    fs::create_directories(run_ + "/logs");
    fs::create_directories(outside_);
    Put(outside_ + "/precious", "precious\n");
    Result<UniqueFd> dir = OpenDirectory(run_, false, 0700);
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(dir).value();
  }
  void TearDown() override { fs::remove_all(base_); }

  static void Put(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // The outside file as it was, and nothing else added next to it.
  void ExpectOutsideUntouched() {
    EXPECT_EQ(Read(outside_ + "/precious"), "precious\n");
    size_t entries = 0;
    for (const auto& e : fs::directory_iterator(outside_)) {
      (void)e;
      ++entries;
    }
    EXPECT_EQ(entries, 1U) << "something was created outside the run directory";
  }
  Result<UniqueFd> Open(const std::string& rel, WriteMode how = WriteMode::kAppend) {
    return OpenFileBeneath(dir_.get(), rel, how, 0644, run_);
  }

  std::string base_, run_, outside_;
  UniqueFd dir_;
};

TEST_F(SafeOpenTest, AppendsToAFileAndCreatesItWhenMissing) {
  for (const char* line : {"one\n", "two\n"}) {
    Result<UniqueFd> f = Open("logs/actor.0.log");
    ASSERT_TRUE(f) << f.error().message();
    ASSERT_TRUE(WriteAll(f->get(), line, "test").ok());
  }
  EXPECT_EQ(Read(run_ + "/logs/actor.0.log"), "one\ntwo\n");
  EXPECT_EQ(fs::status(run_ + "/logs/actor.0.log").permissions() & fs::perms::others_write,
            fs::perms::none);
}

TEST_F(SafeOpenTest, TruncatesAnOrdinaryFile) {
  Put(run_ + "/state.json.tmp.1", "old and longer\n");
  Result<UniqueFd> f = Open("state.json.tmp.1", WriteMode::kTruncate);
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_TRUE(WriteAll(f->get(), "new\n", "test").ok());
  EXPECT_EQ(Read(run_ + "/state.json.tmp.1"), "new\n");
}

TEST_F(SafeOpenTest, ALinkAtTheNameIsRefusedByNameAndNothingIsWrittenThroughIt) {
  fs::create_symlink(outside_ + "/precious", run_ + "/logs/actor.0.log");
  for (WriteMode how : {WriteMode::kAppend, WriteMode::kTruncate}) {
    Result<UniqueFd> f = Open("logs/actor.0.log", how);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_EQ(f.error().message(), run_ + "/logs/actor.0.log: is a symbolic link (to '" + outside_ +
                                       "/precious'); berth writes nothing through a link inside " +
                                       run_ + ": remove it");
  }
  ExpectOutsideUntouched();
}

TEST_F(SafeOpenTest, ADanglingLinkCreatesNothingAtItsTarget) {
  fs::create_symlink(outside_ + "/new-file", run_ + "/merged.log");
  Result<UniqueFd> f = Open("merged.log");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("merged.log: is a symbolic link"), std::string::npos)
      << f.error().message();
  ExpectOutsideUntouched();
}

TEST_F(SafeOpenTest, ALinkInPlaceOfAFolderOnTheWayIsRefused) {
  fs::remove(run_ + "/logs");
  fs::create_directory_symlink(outside_, run_ + "/logs");
  Result<UniqueFd> f = Open("logs/actor.0.log");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(f.error().message().rfind(run_ + "/logs: is a symbolic link", 0), 0U)
      << f.error().message();
  Result<UniqueFd> d = MakeDirectoryBeneath(dir_.get(), "logs", 0700, run_);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message().rfind(run_ + "/logs: is a symbolic link", 0), 0U)
      << d.error().message();
  ExpectOutsideUntouched();
}

TEST_F(SafeOpenTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((run_ + "/merged.log").c_str(), 0600), 0);
  Result<UniqueFd> f = Open("merged.log");  // no reader: would block without O_NONBLOCK
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message(), run_ +
                                     "/merged.log: is a FIFO, not a regular file; berth "
                                     "writes only regular files there: remove it");
  // With a reader the open itself succeeds; the check after it refuses.
  UniqueFd reader(::open((run_ + "/merged.log").c_str(), O_RDONLY | O_NONBLOCK));
  ASSERT_TRUE(reader);
  f = Open("merged.log");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("is a FIFO"), std::string::npos);
}

TEST_F(SafeOpenTest, AHardLinkIsRefusedBeforeAnythingIsTruncated) {
  ASSERT_EQ(::link((outside_ + "/precious").c_str(), (run_ + "/state.json.tmp.7").c_str()), 0);
  Result<UniqueFd> f = Open("state.json.tmp.7", WriteMode::kTruncate);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("state.json.tmp.7: has 2 hard links"), std::string::npos)
      << f.error().message();
  fs::remove(run_ + "/state.json.tmp.7");
  ExpectOutsideUntouched();
}

TEST_F(SafeOpenTest, ADirectoryAtTheNameIsRefused) {
  Result<UniqueFd> f = Open("logs");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("logs: is a directory, not a regular file"), std::string::npos)
      << f.error().message();
}

TEST_F(SafeOpenTest, PathsThatLeaveTheDirectoryAreRefused) {
  for (const char* rel : {"../outside/precious", "/etc/passwd", "logs/../x", "logs//x", ""}) {
    Result<UniqueFd> f = Open(rel);
    ASSERT_FALSE(f) << rel;
    EXPECT_EQ(f.error().code(), ErrorCode::kInvalidSpec) << rel;
  }
  ExpectOutsideUntouched();
}

TEST_F(SafeOpenTest, MakesFoldersPrivateWhateverTheUmask) {
  const mode_t old = ::umask(0);
  Result<UniqueFd> d = MakeDirectoryBeneath(dir_.get(), "a/b", 0700, run_);
  ::umask(old);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(fs::status(run_ + "/a").permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(run_ + "/a/b").permissions(), fs::perms::owner_all);
  // An existing one is opened as it is.
  EXPECT_TRUE(MakeDirectoryBeneath(dir_.get(), "a/b", 0700, run_));
  Put(run_ + "/a/file", "x");
  Result<UniqueFd> not_dir = MakeDirectoryBeneath(dir_.get(), "a/file", 0700, run_);
  ASSERT_FALSE(not_dir);
  EXPECT_NE(not_dir.error().message().find("a/file: is a regular file, not a directory"),
            std::string::npos);
}

TEST_F(SafeOpenTest, TheDirectorysOwnPathMayGoThroughLinks) {
  // The user's path is followed (/home -> /data/home); only what is below it is not.
  fs::create_directory_symlink(run_, base_ + "/via-link");
  Result<UniqueFd> dir = OpenDirectory(base_ + "/via-link", false, 0700);
  ASSERT_TRUE(dir) << dir.error().message();
  EXPECT_TRUE(OpenFileBeneath(dir->get(), "merged.log", WriteMode::kAppend, 0644, "via-link"));
  EXPECT_TRUE(fs::is_regular_file(run_ + "/merged.log"));
}

TEST_F(SafeOpenTest, OpenDirectoryCreatesTheMissingFolderPrivate) {
  const mode_t old = ::umask(0);
  Result<UniqueFd> dir = OpenDirectory(base_ + "/x/y/z", true, 0700);
  ::umask(old);
  ASSERT_TRUE(dir) << dir.error().message();
  EXPECT_EQ(fs::status(base_ + "/x/y/z").permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(base_ + "/x").permissions(), fs::perms::all);  // mkdir -p's, umask 0
  Result<UniqueFd> missing = OpenDirectory(base_ + "/nope", false, 0700);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("nope: cannot open the directory"), std::string::npos);
}

TEST_F(SafeOpenTest, RenameReplacesAFileButRefusesALink) {
  Put(run_ + "/state.json.tmp.1", "new\n");
  Put(run_ + "/state.json", "old\n");
  ASSERT_TRUE(RenameBeneath(dir_.get(), "state.json.tmp.1", "state.json", run_).ok());
  EXPECT_EQ(Read(run_ + "/state.json"), "new\n");

  fs::remove(run_ + "/state.json");
  fs::create_symlink(outside_ + "/precious", run_ + "/state.json");
  Put(run_ + "/state.json.tmp.1", "new\n");
  Status s = RenameBeneath(dir_.get(), "state.json.tmp.1", "state.json", run_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(s.message().rfind(run_ + "/state.json: is a symbolic link", 0), 0U) << s.message();
  EXPECT_TRUE(fs::exists(run_ + "/state.json.tmp.1"));
  ExpectOutsideUntouched();
}

}  // namespace
}  // namespace berth::common
