#include "berth/placement.h"

#include <gtest/gtest.h>

#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Nodes;
using testing::Res;

TEST(EngineTest, PackSingleNodeGetsAscendingDevices) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 16}, {"GPU", 8}})));
  auto st = e.CreateGroup(Group("g", Strategy::kPack,
                                {Res({{"GPU", 1}}), Res({{"GPU", 2}}), Res({{"GPU", 1}})}));
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  EXPECT_EQ(*st, GroupState::kCreated);
  auto g = e.Group("g");
  ASSERT_EQ(g->placed.size(), 3u);
  EXPECT_EQ(g->placed[0].node, "n0");
  EXPECT_EQ(g->placed[1].node, "n0");
  EXPECT_EQ(g->placed[2].node, "n0");
  EXPECT_EQ(g->placed[0].gpus, (std::vector<GpuShare>{{0, Quantity::Whole(1)}}));
  EXPECT_EQ(g->placed[1].gpus,
            (std::vector<GpuShare>{{1, Quantity::Whole(1)}, {2, Quantity::Whole(1)}}));
  EXPECT_EQ(g->placed[2].gpus, (std::vector<GpuShare>{{3, Quantity::Whole(1)}}));
}

}  // namespace
}  // namespace berth
