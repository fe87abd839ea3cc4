// The score that keeps GPUs usable (fit_score.h), through the engine: bundles
// without GPUs keep off nodes with free GPUs, and GPU bundles take the GPUs
// that a node short of CPUs would otherwise strand.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "berth/placement.h"
#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Res;

std::string NodeOf(const PlacementEngine& e, const std::string& group) {
  std::optional<GroupView> g = e.Group(group);
  if (!g || g->placed.empty()) return "(not placed)";
  return g->placed[0].node;
}

TEST(FitScoreTest, ACpuBundleTakesACpuNodeOverAFullerGpuNode) {
  // Best fit alone picks gpu0 (half its CPUs left against seven eighths),
  // and its 8 GPUs would keep 8 CPUs between them.
  auto e = EngineWith({{"gpu0", Res({{"CPU", 16}, {"GPU", 8}, {"memory", 64}}), {}},
                       {"cpu0", Res({{"CPU", 64}, {"memory", 64}}), {}}});
  ASSERT_TRUE(e.CreateGroup(Group("c", Strategy::kPack, {Res({{"CPU", 8}, {"memory", 8}})})));
  EXPECT_EQ(NodeOf(e, "c"), "cpu0");
}

TEST(FitScoreTest, ACpuBundleTakesTheGpuNodeWhoseGpusAreGone) {
  auto e = EngineWith(
      {{"a", Res({{"CPU", 32}, {"GPU", 8}}), {}}, {"b", Res({{"CPU", 32}, {"GPU", 8}}), {}}});
  ASSERT_TRUE(e.CreateGroup(Group("gpus", Strategy::kStrictPack, {Res({{"CPU", 4}, {"GPU", 8}})})));
  ASSERT_EQ(NodeOf(e, "gpus"), "a");
  ASSERT_TRUE(e.CreateGroup(Group("cpus", Strategy::kPack, {Res({{"CPU", 30}})})));
  ASSERT_EQ(NodeOf(e, "cpus"), "b");  // the only node with 30 CPUs
  // b is the fuller node (2 CPUs left), but its 8 GPUs are free: the last 2
  // CPUs stay for them. a has no GPU left to serve.
  ASSERT_TRUE(e.CreateGroup(Group("small", Strategy::kPack, {Res({{"CPU", 2}})})));
  EXPECT_EQ(NodeOf(e, "small"), "a");
}

TEST(FitScoreTest, AGpuBundleUsesGpusThatANodeShortOfCpusWouldStrand) {
  auto e = EngineWith(
      {{"x", Res({{"CPU", 64}, {"GPU", 8}}), {}}, {"y", Res({{"CPU", 64}, {"GPU", 8}}), {}}});
  // x: 2 CPUs and 8 GPUs left; y: 60 CPUs and 2 GPUs left.
  ASSERT_TRUE(e.CreateGroup(Group("cpus", Strategy::kPack, {Res({{"CPU", 62}})})));
  ASSERT_EQ(NodeOf(e, "cpus"), "x");
  ASSERT_TRUE(e.CreateGroup(Group("six", Strategy::kPack, {Res({{"CPU", 4}, {"GPU", 6}})})));
  ASSERT_EQ(NodeOf(e, "six"), "y");
  ASSERT_TRUE(e.CreateGroup(Group("one", Strategy::kPack, {Res({{"CPU", 1}, {"GPU", 1}})})));
  EXPECT_EQ(NodeOf(e, "one"), "x");
}

TEST(FitScoreTest, EqualNodesAreTakenInOrder) {
  auto e = EngineWith({{"n0", Res({{"CPU", 8}, {"GPU", 2}}), {}},
                       {"n1", Res({{"CPU", 8}, {"GPU", 2}}), {}},
                       {"n2", Res({{"CPU", 8}}), {}}});
  ASSERT_TRUE(e.CreateGroup(Group("g", Strategy::kPack, {Res({{"CPU", 1}, {"GPU", 1}})})));
  EXPECT_EQ(NodeOf(e, "g"), "n0");
  ASSERT_TRUE(e.CreateGroup(Group("c", Strategy::kSpread, {Res({{"CPU", 1}})})));
  EXPECT_EQ(NodeOf(e, "c"), "n2");
}

}  // namespace
}  // namespace berth
