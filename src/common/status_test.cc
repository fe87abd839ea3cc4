// Status and Result: errors are values; misuse of a Result ends the program
// with its message instead of throwing.

#include "berth/status.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return InvalidSpec("n: " + std::to_string(n) + " is odd; pass an even number");
  return n / 2;
}

Result<int> Quarter(int n) {
  BERTH_ASSIGN_OR_RETURN(int half, Half(n));
  return Half(half);
}

TEST(ResultTest, ValueAndErrorTravel) {
  ASSERT_TRUE(Quarter(8).has_value());
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> odd = Quarter(6);
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(odd.error().ToString(), "InvalidSpec: n: 3 is odd; pass an even number");
}

TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheErrorInsteadOfThrowing) {
  Result<int> odd = Half(3);
  EXPECT_DEATH((void)odd.value(),
               "Result::value\\(\\) called on an error: InvalidSpec: n: 3 is odd");
}

TEST(ResultDeathTest, ErrorOfAValueAborts) {
  Result<int> two = Half(4);
  EXPECT_DEATH((void)two.error(), "Result::error\\(\\) called on a value");
}

}  // namespace
}  // namespace berth
