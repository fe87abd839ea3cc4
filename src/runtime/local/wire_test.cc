#include "runtime/local/wire.h"

#include <gtest/gtest.h>

namespace berth::runtime::local {
namespace {

TEST(WireTest, RoundTripsEveryFieldKind) {
  const std::vector<std::pair<std::string, std::string>> env = {{"A", std::string("x\0=\n", 4)},
                                                                {"B", ""}};
  std::string frame = WireWriter(MsgType::kSpawn)
                          .U64(0x0102030405060708ull)
                          .I32(-7)
                          .I64(-1)
                          .U8(255)
                          .Str("")
                          .Strs({"a", "", "c c"})
                          .Pairs(env)
                          .Finish();
  FrameBuffer fb;
  // Byte by byte: a frame is only complete at its last byte.
  std::optional<std::string> body;
  bool bad = false;
  for (size_t i = 0; i < frame.size(); ++i) {
    EXPECT_FALSE(body.has_value());
    fb.Append(frame.substr(i, 1));
    body = fb.Next(&bad);
    EXPECT_FALSE(bad);
  }
  ASSERT_TRUE(body.has_value());
  WireReader r(*body);
  MsgType t;
  uint64_t u64;
  int32_t i32;
  int64_t i64;
  uint8_t u8;
  std::string s;
  std::vector<std::string> strs;
  std::vector<std::pair<std::string, std::string>> pairs;
  ASSERT_TRUE(r.Type(&t) && r.U64(&u64) && r.I32(&i32) && r.I64(&i64) && r.U8(&u8) && r.Str(&s) &&
              r.Strs(&strs) && r.Pairs(&pairs));
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(t, MsgType::kSpawn);
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_EQ(i32, -7);
  EXPECT_EQ(i64, -1);
  EXPECT_EQ(u8, 255);
  EXPECT_EQ(s, "");
  EXPECT_EQ(strs, (std::vector<std::string>{"a", "", "c c"}));
  EXPECT_EQ(pairs, env);
}

TEST(WireTest, RoundTripsIntListsAndCounts) {
  std::string frame =
      WireWriter(MsgType::kSpawned).U32(3).I32s({}).I32s({1, -2, 0x7fffffff}).Finish();
  FrameBuffer fb;
  fb.Append(frame);
  bool bad = false;
  std::optional<std::string> body = fb.Next(&bad);
  ASSERT_TRUE(body.has_value());
  WireReader r(*body);
  MsgType t;
  uint32_t n;
  std::vector<int32_t> empty, v;
  ASSERT_TRUE(r.Type(&t) && r.U32(&n) && r.I32s(&empty) && r.I32s(&v));
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(t, MsgType::kSpawned);
  EXPECT_EQ(n, 3u);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(v, (std::vector<int32_t>{1, -2, 0x7fffffff}));
  // A count larger than the body can hold is refused before reserving.
  std::string huge = WireWriter(MsgType::kSpawned).U32(1u << 30).Finish();
  WireReader h(std::string_view(huge).substr(4));
  ASSERT_TRUE(h.Type(&t));
  EXPECT_FALSE(h.I32s(&v));
}

TEST(WireTest, TruncatedBodyFailsAndStaysFailed) {
  std::string frame = WireWriter(MsgType::kExit).Str("worker").I32(5).Finish();
  std::string body = frame.substr(4, frame.size() - 4 - 2);  // cut the i32
  WireReader r(body);
  MsgType t;
  std::string id;
  int32_t v;
  EXPECT_TRUE(r.Type(&t));
  EXPECT_TRUE(r.Str(&id));
  EXPECT_FALSE(r.I32(&v));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.Str(&id));
}

TEST(WireTest, HugeCountsAreRefusedBeforeAllocating) {
  std::string body;
  body.push_back(static_cast<char>(MsgType::kSpawn));
  body += std::string("\xff\xff\xff\x7f", 4);  // 2^31 strings in 0 bytes
  WireReader r(body);
  MsgType t;
  std::vector<std::string> v;
  ASSERT_TRUE(r.Type(&t));
  EXPECT_FALSE(r.Strs(&v));
}

TEST(WireTest, OversizedFrameIsBad) {
  FrameBuffer fb;
  fb.Append(std::string("\xff\xff\xff\xff", 4));
  bool bad = false;
  EXPECT_FALSE(fb.Next(&bad).has_value());
  EXPECT_TRUE(bad);
}

TEST(WireTest, SeveralFramesInOneRead) {
  FrameBuffer fb;
  fb.Append(WireWriter(MsgType::kShutdown).I64(1).Finish() +
            WireWriter(MsgType::kShutdown).I64(2).Finish());
  bool bad;
  for (int64_t want : {1, 2}) {
    auto body = fb.Next(&bad);
    ASSERT_TRUE(body.has_value());
    WireReader r(*body);
    MsgType t;
    int64_t v;
    ASSERT_TRUE(r.Type(&t) && r.I64(&v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(fb.Next(&bad).has_value());
}

}  // namespace
}  // namespace berth::runtime::local
