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

}  // namespace
}  // namespace berth::common
