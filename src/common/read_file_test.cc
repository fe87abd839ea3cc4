// Reading input files: whole, up to a limit that names itself when it is hit.

#include "common/read_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace berth::common {
namespace {

class ReadFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("berth-read-file-" + std::to_string(::getpid()) + ".txt"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(size_t bytes) { std::ofstream(path_, std::ios::binary) << std::string(bytes, 'x'); }

  std::string path_;
};

TEST_F(ReadFileTest, AFileAtTheLimitIsReadWhole) {
  Write(1024);
  Result<std::string> text = ReadFile(path_, 1024, "a test file");
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(text->size(), 1024U);
}

TEST_F(ReadFileTest, AFileOverTheLimitIsRefusedWithItsSize) {
  Write(1025);
  Result<std::string> text = ReadFile(path_, 1024, "a test file");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(text.error().message(), path_ +
                                        ": 1025 bytes, over the limit of 1024 bytes for a test "
                                        "file; is it the right file?");
}

TEST_F(ReadFileTest, AnEndlessDeviceStopsAtTheLimit) {
  Result<std::string> text = ReadFile("/dev/zero", size_t{1} << 20, "an experiment file");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().message(),
            "/dev/zero: more than 1 MiB, over the limit of 1 MiB for an experiment file; is it "
            "the right file?");
}

TEST_F(ReadFileTest, AMissingFileSaysWhy) {
  Result<std::string> text = ReadFile(path_ + ".none", 1024, "a test file");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().message(), path_ + ".none: cannot read: No such file or directory");
}

TEST_F(ReadFileTest, LogTailKeepsTheLastLinesWhole) {
  {
    std::ofstream out(path_);
    for (int i = 0; i < 100; ++i) out << "line " << i << "\n";
  }
  const std::string tail = LogTail(path_, 3);
  EXPECT_EQ(tail, "    | line 97\n    | line 98\n    | line 99\n");
}

TEST_F(ReadFileTest, LogTailOfAHugeLineIsBoundedAndMarkedCut) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << "started\n"
        << std::string(size_t{20} << 20, 'x') << "y\n"
        << "last words";
  }
  const std::string tail = LogTail(path_, 50);
  EXPECT_EQ(tail,
            "    | [cut] " + std::string(kMaxTailLineBytes - 1, 'x') + "y\n    | last words\n");
  // Also when the window starts in the middle of the huge line.
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(size_t{1} << 20, 'z') << "\nend\n";
  }
  EXPECT_EQ(LogTail(path_, 2),
            "    | [cut] " + std::string(kMaxTailLineBytes, 'z') + "\n    | end\n");
}

TEST_F(ReadFileTest, LogTailOfAnEmptyOrMissingLogSaysSo) {
  Write(0);
  EXPECT_EQ(LogTail(path_, 50), "    (the log is empty)\n");
  EXPECT_EQ(LogTail(path_ + ".none", 50), "    (cannot read " + path_ + ".none)\n");
}

}  // namespace
}  // namespace berth::common
