#include <gtest/gtest.h>

#include "berth/plan.h"

namespace berth {
namespace {

std::vector<SplitBundle> Split(int64_t per_node, int64_t cpu, int64_t gpu, int64_t mem) {
  auto r = SplitInstance(per_node, cpu, gpu, mem);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return r ? *r : std::vector<SplitBundle>{};
}

TEST(SplitInstanceTest, ArealTestCase) {
  // areal.md 3.6: (16, cpu=1, gpu=24, mem=1024). 1*16/24 = 0.67 -> 1 and
  // 1024*16/24 = 682.67 -> 683; the last bundle takes the remainder.
  EXPECT_EQ(Split(16, 1, 24, 1024), (std::vector<SplitBundle>{{1, 16, 683}, {0, 8, 341}}));
}

TEST(SplitInstanceTest, ArealTp16Example) {
  // A TP16 rollout on 8-GPU nodes, spec cpu=8 and mem=32 per GPU, scaled to
  // cpu=128, mem=512, gpu=16.
  EXPECT_EQ(Split(8, 128, 16, 512), (std::vector<SplitBundle>{{64, 8, 256}, {64, 8, 256}}));
}

TEST(SplitInstanceTest, RoundsHalfToEvenAsPython) {
  // round(0.5) == 0 and round(1.5) == 2 in Python; round(2.5) == 2.
  EXPECT_EQ(Split(8, 1, 16, 3), (std::vector<SplitBundle>{{0, 8, 2}, {1, 8, 1}}));
  EXPECT_EQ(Split(8, 3, 16, 5), (std::vector<SplitBundle>{{2, 8, 2}, {1, 8, 3}}));
}

TEST(SplitInstanceTest, RemainderBundleLast) {
  EXPECT_EQ(Split(8, 20, 20, 40), (std::vector<SplitBundle>{{8, 8, 16}, {8, 8, 16}, {4, 4, 8}}));
}

TEST(SplitInstanceTest, FitsOneNodeIsOneBundle) {
  EXPECT_EQ(Split(8, 4, 8, 16), (std::vector<SplitBundle>{{4, 8, 16}}));
  EXPECT_EQ(Split(8, 4, 3, 16), (std::vector<SplitBundle>{{4, 3, 16}}));
}

TEST(SplitInstanceTest, NoGpuIsOneCpuBundleWhateverTheNodes) {
  EXPECT_EQ(Split(0, 4, 0, 16), (std::vector<SplitBundle>{{4, 0, 16}}));
}

TEST(SplitInstanceTest, Errors) {
  auto none = SplitInstance(0, 1, 8, 1);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), ErrorCode::kInfeasible);
  EXPECT_NE(none.error().message().find("n_gpus_per_node must be > 0, got 0"), std::string::npos);
  EXPECT_FALSE(SplitInstance(8, -1, 8, 1).has_value());
  // Products above 2^53 are not exact in double, so not Python's answer.
  EXPECT_FALSE(SplitInstance(8, int64_t{1} << 50, 16, 1).has_value());
  // Four bundles round up to 1 CPU each and leave -1 for the last: AReaL
  // would hand that to Ray; berth refuses it.
  auto negative = SplitInstance(16, 3, 65, 10);
  ASSERT_FALSE(negative.has_value());
  EXPECT_NE(negative.error().message().find("cpu -1"), std::string::npos)
      << negative.error().message();
}

}  // namespace
}  // namespace berth
