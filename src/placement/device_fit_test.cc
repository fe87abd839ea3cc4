#include "placement/device_fit.h"

#include <gtest/gtest.h>

namespace berth::placement {
namespace {

constexpr Units kHalf = kDevice / 2;

TEST(DeviceFitTest, WholeAsksTakeAscendingFreeDevices) {
  std::vector<Units> free = {kDevice, kHalf, kDevice, kDevice};
  std::vector<GpuAsk> asks = {{0, kDevice}, {1, 2 * kDevice}};
  auto got = AssignGpus(free, asks);
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], (std::vector<GpuShare>{{0, Quantity::Whole(1)}}));
  EXPECT_EQ((*got)[1], (std::vector<GpuShare>{{2, Quantity::Whole(1)}, {3, Quantity::Whole(1)}}));
}

TEST(DeviceFitTest, FractionGoesToFullestDeviceThatFits) {
  // Best fit keeps whole devices free: 0.5 goes onto the half-used device 1.
  std::vector<Units> free = {kDevice, kHalf, kDevice};
  std::vector<GpuAsk> asks = {{0, kHalf}};
  auto got = AssignGpus(free, asks);
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], (std::vector<GpuShare>{{1, Quantity::Units(kHalf)}}));
}

TEST(DeviceFitTest, PacksWhereFirstFitDecreasingFails) {
  // 0.4 0.4 0.3 0.3 0.3 0.3 on two devices: first-fit decreasing puts both
  // 0.4s together and strands a 0.3; the exact packing is {0.4,0.3,0.3} x 2.
  std::vector<Units> free = {kDevice, kDevice};
  std::vector<GpuAsk> asks = {{0, 4000}, {1, 4000}, {2, 3000}, {3, 3000}, {4, 3000}, {5, 3000}};
  EXPECT_TRUE(GpuAsksFit(free, asks));
  auto got = AssignGpus(free, asks);
  ASSERT_TRUE(got);
  Units used[2] = {0, 0};
  for (const auto& shares : *got) {
    ASSERT_EQ(shares.size(), 1u);
    used[shares[0].device] += shares[0].fraction.units();
  }
  EXPECT_EQ(used[0], kDevice);
  EXPECT_EQ(used[1], kDevice);
}

TEST(DeviceFitTest, WholeAsksNeedFullyFreeDevices) {
  std::vector<Units> free = {kHalf, kHalf, kHalf, kDevice};
  EXPECT_FALSE(GpuAsksFit(free, std::vector<GpuAsk>{{0, 2 * kDevice}}));
  // One whole device plus a half share: the half goes beside it.
  std::vector<GpuAsk> mixed = {{0, kDevice}, {1, kHalf}};
  EXPECT_TRUE(GpuAsksFit(free, mixed));
  auto got = AssignGpus(free, mixed);
  EXPECT_EQ((*got)[0], (std::vector<GpuShare>{{3, Quantity::Whole(1)}}));
  EXPECT_EQ((*got)[1], (std::vector<GpuShare>{{0, Quantity::Units(kHalf)}}));
}

TEST(DeviceFitTest, RefusesWhatDoesNotFit) {
  std::vector<Units> free = {kDevice, kDevice};
  std::vector<GpuAsk> asks = {{0, 6000}, {1, 6000}, {2, 6000}};
  EXPECT_FALSE(GpuAsksFit(free, asks));
  EXPECT_FALSE(AssignGpus(free, asks));
}

}  // namespace
}  // namespace berth::placement
