// This machine as a node on the public API (include/berth/local.h).

#include <gtest/gtest.h>

#include "berth/local.h"

namespace berth {
namespace {

TEST(LocalMachineNodeTest, DeclaredValuesWin) {
  LocalResources declared;
  declared.gpus = 8;
  declared.cpu = Quantity::Whole(16);
  declared.mem_gib = Quantity::Whole(64);
  Result<NodeSpec> node = LocalMachineNode(declared);
  ASSERT_TRUE(node.has_value()) << node.error().ToString();
  EXPECT_EQ(node->name, "local");
  EXPECT_EQ(node->labels.at("address"), "127.0.0.1");
  EXPECT_EQ(node->resources.Get(kGpu), Quantity::Whole(8));
  EXPECT_EQ(node->resources.Get(kCpu), Quantity::Whole(16));
  EXPECT_EQ(node->resources.Get(kMemory), Quantity::Whole(int64_t{64} << 30));
}

TEST(LocalMachineNodeTest, DetectsWhatIsNotDeclared) {
  Result<NodeSpec> node = LocalMachineNode();
  ASSERT_TRUE(node.has_value()) << node.error().ToString();
  EXPECT_GE(node->resources.Get(kCpu), Quantity::Whole(1));
  EXPECT_FALSE(node->resources.Get(kMemory).IsZero());
  LocalResources none;
  none.gpus = 0;
  Result<NodeSpec> cpu_only = LocalMachineNode(none);
  ASSERT_TRUE(cpu_only.has_value());
  EXPECT_FALSE(cpu_only->resources.Has(kGpu));
}

TEST(LocalMachineNodeTest, TooMuchMemoryIsAnError) {
  LocalResources declared;
  declared.mem_gib = Quantity::Whole(1'000'000);  // 1e6 GiB is above 1e14 bytes
  Result<NodeSpec> node = LocalMachineNode(declared);
  ASSERT_FALSE(node.has_value());
  EXPECT_EQ(node.error().code(), ErrorCode::kInvalidSpec);
}

}  // namespace
}  // namespace berth
