#include "berth/resources.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(QuantityTest, ParsesDecimalsExactly) {
  EXPECT_EQ(Quantity::FromDouble(0.1, "x")->units(), 1000);
  EXPECT_EQ(Quantity::FromDouble(0.3333, "x")->units(), 3333);
  EXPECT_EQ(Quantity::FromDouble(8, "x")->units(), 80000);
  EXPECT_EQ(Quantity::FromInteger(1099511627776, "x")->units(), 10995116277760000);
}

TEST(QuantityTest, RejectsNegativeFineAndHuge) {
  auto neg = Quantity::FromDouble(-1, "bundles[0].CPU");
  ASSERT_FALSE(neg.has_value());
  EXPECT_EQ(neg.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(neg.error().message().find("bundles[0].CPU"), std::string::npos);
  EXPECT_NE(neg.error().message().find("negative"), std::string::npos);

  auto fine = Quantity::FromDouble(0.33333, "GPU");
  ASSERT_FALSE(fine.has_value());
  EXPECT_EQ(fine.error().message(),
            "GPU: 0.33333 is finer than the resolution 0.0001; round it to 4 decimal places");

  EXPECT_FALSE(Quantity::FromDouble(1e15, "memory").has_value());
  EXPECT_FALSE(Quantity::FromInteger(-3, "CPU").has_value());
  EXPECT_FALSE(Quantity::FromDouble(std::numeric_limits<double>::quiet_NaN(), "CPU").has_value());
}

TEST(QuantityTest, RepeatedAddSubtractNeverDrifts) {
  Quantity tenth = *Quantity::FromDouble(0.1, "x");
  Quantity sum;
  for (int i = 0; i < 100000; ++i) sum += tenth;
  EXPECT_EQ(sum, Quantity::Whole(10000));
  for (int i = 0; i < 100000; ++i) sum -= tenth;
  EXPECT_TRUE(sum.IsZero());
}

TEST(QuantityTest, FormatsShortestDecimal) {
  EXPECT_EQ(Quantity::Whole(8).ToString(), "8");
  EXPECT_EQ(Quantity::Units(5000).ToString(), "0.5");
  EXPECT_EQ(Quantity::Units(1).ToString(), "0.0001");
  EXPECT_EQ(Quantity::Units(12345).ToString(), "1.2345");
}

TEST(ResourceSetTest, KeepsNamesSortedAndUnique) {
  ResourceSet r;
  r.Set("memory", Quantity::Whole(2));
  r.Set("CPU", Quantity::Whole(1));
  r.Set("CPU", Quantity::Whole(3));
  ASSERT_EQ(r.items().size(), 2u);
  EXPECT_EQ(r.items()[0].first, "CPU");
  EXPECT_EQ(r.Get("CPU"), Quantity::Whole(3));
  EXPECT_EQ(r.Get("GPU"), Quantity());
  EXPECT_EQ(r.ToString(), "{CPU: 3, memory: 2}");
}

}  // namespace
}  // namespace berth
