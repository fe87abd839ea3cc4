// The public PortSources (include/berth/ports.h) are the roles layer's.

#include <gtest/gtest.h>

#include <set>

#include "berth/ports.h"

namespace berth {
namespace {

TEST(PublicPortsTest, CountingPortsCountPerNode) {
  PortSource ports = CountingPorts();
  EXPECT_EQ(*ports("a"), 30000);
  EXPECT_EQ(*ports("a"), 30001);
  EXPECT_EQ(*ports("b"), 30000);
  Result<int> past = CountingPorts(65536)("a");
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code(), ErrorCode::kUnavailable);
}

TEST(PublicPortsTest, LocalFreePortsAreInRangeAndDistinct) {
  PortSource ports = LocalFreePorts(20000, 20100);
  std::set<int> seen;
  for (int i = 0; i < 5; ++i) {
    Result<int> p = ports("local");
    ASSERT_TRUE(p.has_value()) << p.error().ToString();
    EXPECT_GE(*p, 20000);
    EXPECT_LT(*p, 20100);
    EXPECT_TRUE(seen.insert(*p).second) << *p << " twice";
  }
}

TEST(PublicPortsTest, AllOnLoopback) {
  const NodeSpec local{"local", {}, {{"address", "127.0.0.1"}}};
  const NodeSpec far{"gpu7", {}, {{"address", "10.0.0.7"}}};
  EXPECT_TRUE(AllOnLoopback({local}));
  EXPECT_FALSE(AllOnLoopback({local, far}));
  EXPECT_FALSE(AllOnLoopback({NodeSpec{"bare", {}, {}}}));
}

}  // namespace
}  // namespace berth
