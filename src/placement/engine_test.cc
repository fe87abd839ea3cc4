#include <gtest/gtest.h>

#include "berth/placement.h"
#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Nodes;
using testing::Res;

std::vector<std::string> NodesOf(const PlacementEngine& e, const std::string& group) {
  std::vector<std::string> out;
  auto g = e.Group(group);  // keep the view alive for the loop
  for (const BundlePlacement& p : g->placed) out.push_back(p.node);
  return out;
}

std::vector<int> DevicesOf(const PlacementEngine& e, const std::string& group, int bundle) {
  std::vector<int> out;
  auto g = e.Group(group);
  for (const GpuShare& s : g->placed[bundle].gpus) out.push_back(s.device);
  return out;
}

GroupState Create(PlacementEngine& e, const GroupSpec& g) {
  auto st = e.CreateGroup(g);
  EXPECT_TRUE(st.has_value()) << st.error().ToString();
  return st.has_value() ? *st : GroupState::kRemoved;
}

const NodeView& NodeNamed(const std::vector<NodeView>& nodes, const std::string& name) {
  for (const NodeView& n : nodes) {
    if (n.name == name) return n;
  }
  static NodeView none;
  ADD_FAILURE() << "no node " << name;
  return none;
}

TEST(PackTest, OneNodeGetsAscendingDevicesInBundleOrder) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 16}, {"GPU", 8}})));
  EXPECT_EQ(Create(e, Group("g", Strategy::kPack,
                            {Res({{"GPU", 1}}), Res({{"GPU", 2}}), Res({{"GPU", 1}})})),
            GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "g"), (std::vector<std::string>{"n0", "n0", "n0"}));
  EXPECT_EQ(DevicesOf(e, "g", 0), (std::vector<int>{0}));
  EXPECT_EQ(DevicesOf(e, "g", 1), (std::vector<int>{1, 2}));
  EXPECT_EQ(DevicesOf(e, "g", 2), (std::vector<int>{3}));
}

TEST(PackTest, PrefersTheFullerNode) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 8}})));
  // Put 4 GPUs on n1, then a new group packs onto n1 (best fit), keeping n0
  // whole for a group that needs a whole node.
  ASSERT_EQ(Create(e, Group("a", Strategy::kStrictPack, {Res({{"GPU", 4}})})),
            GroupState::kCreated);
  ASSERT_EQ(NodesOf(e, "a"), (std::vector<std::string>{"n0"}));
  EXPECT_EQ(Create(e, Group("b", Strategy::kPack, {Res({{"GPU", 2}}), Res({{"GPU", 2}})})),
            GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "b"), (std::vector<std::string>{"n0", "n0"}));
  EXPECT_EQ(DevicesOf(e, "b", 0), (std::vector<int>{4, 5}));
  EXPECT_EQ(DevicesOf(e, "b", 1), (std::vector<int>{6, 7}));
  EXPECT_EQ(Create(e, Group("c", Strategy::kStrictPack, {Res({{"GPU", 8}})})),
            GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "c"), (std::vector<std::string>{"n1"}));
}

TEST(PackTest, SpillsOntoFewestNodes) {
  auto e = EngineWith(Nodes(3, Res({{"GPU", 4}})));
  std::vector<ResourceSet> six(6, Res({{"GPU", 1}}));
  EXPECT_EQ(Create(e, Group("g", Strategy::kPack, six)), GroupState::kCreated);
  auto nodes = NodesOf(e, "g");
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  EXPECT_EQ(nodes.size(), 2u);
}

TEST(PackTest, FindsTheOptimumWhereGreedyOpensTooMany) {
  // Nodes of 10 CPU. Bundles 6,4,4,3,3: taking the most bundles first puts
  // 4,3,3 on one node (3 bundles) and leaves 6 and 4 to one more: 2 nodes is
  // the optimum and must be found (6+4 | 4+3+3).
  auto e = EngineWith(Nodes(3, Res({{"CPU", 10}})));
  EXPECT_EQ(Create(e, Group("g", Strategy::kPack,
                            {Res({{"CPU", 6}}), Res({{"CPU", 4}}), Res({{"CPU", 4}}),
                             Res({{"CPU", 3}}), Res({{"CPU", 3}})})),
            GroupState::kCreated);
  auto nodes = NodesOf(e, "g");
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  EXPECT_EQ(nodes.size(), 2u);
}

TEST(SpreadTest, UsesEveryNodeThenDoublesUp) {
  auto e = EngineWith(Nodes(3, Res({{"CPU", 8}})));
  std::vector<ResourceSet> four(4, Res({{"CPU", 1}}));
  EXPECT_EQ(Create(e, Group("g", Strategy::kSpread, four)), GroupState::kCreated);
  auto nodes = NodesOf(e, "g");
  std::sort(nodes.begin(), nodes.end());
  EXPECT_EQ(nodes, (std::vector<std::string>{"n0", "n0", "n1", "n2"}));
}

TEST(StrictPackTest, NeverSplitsAndSaysWhy) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}, {"GPU", 4}})));
  EXPECT_EQ(Create(e, Group("g", Strategy::kStrictPack, {Res({{"GPU", 3}}), Res({{"GPU", 3}})})),
            GroupState::kInfeasible);
  EXPECT_TRUE(e.Group("g")->placed.empty());
  auto why = e.Explain("g");
  EXPECT_EQ(why->reason,
            "STRICT_PACK puts all 2 bundles on one node and needs GPU 6, but the most any node "
            "has is GPU 4 (n0); use PACK, or add a node with GPU 6 or more");
  EXPECT_EQ(why->never_fits, 2);
  ASSERT_EQ(why->nodes.size(), 2u);
  EXPECT_EQ(why->nodes[0].verdict, NodeVerdict::kNeverFits);
  EXPECT_EQ(why->nodes[0].bundle, -1);
  EXPECT_EQ(why->nodes[0].resource, "GPU");
  EXPECT_EQ(why->nodes[0].need, Quantity::Whole(6));
  EXPECT_EQ(why->nodes[0].have, Quantity::Whole(4));
}

TEST(StrictSpreadTest, MatchesUnequalBundlesWhereGreedyFails) {
  // "a" has the GPUs, "b" the CPUs. Best fit alone would put the GPU bundle
  // on "b" (fuller afterwards) and strand the CPU bundle; matching does not.
  PlacementEngine e;
  ASSERT_TRUE(e.AddNode({"a", Res({{"CPU", 4}, {"GPU", 8}}), {}}).ok());
  ASSERT_TRUE(e.AddNode({"b", Res({{"CPU", 64}, {"GPU", 2}}), {}}).ok());
  EXPECT_EQ(Create(e, Group("g", Strategy::kStrictSpread,
                            {Res({{"CPU", 2}, {"GPU", 2}}), Res({{"CPU", 32}})})),
            GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "g"), (std::vector<std::string>{"a", "b"}));
}

TEST(StrictSpreadTest, MoreBundlesThanNodesIsInfeasible) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}})));
  std::vector<ResourceSet> three(3, Res({{"CPU", 1}}));
  EXPECT_EQ(Create(e, Group("g", Strategy::kStrictSpread, three)), GroupState::kInfeasible);
  EXPECT_EQ(e.Explain("g")->reason,
            "STRICT_SPREAD needs 3 distinct nodes, but only 2 of the 2 nodes can ever hold its "
            "bundles; use SPREAD, or add nodes");
  // A third node makes it placeable at once.
  ASSERT_TRUE(e.AddNode({"n2", Res({{"CPU", 8}}), {}}).ok());
  EXPECT_EQ(e.Group("g")->state, GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "g"), (std::vector<std::string>{"n0", "n1", "n2"}));
}

TEST(StateTest, PendingWaitsAndDoesNotBlockLaterGroups) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  ASSERT_EQ(Create(e, Group("hog", Strategy::kPack, {Res({{"GPU", 3}}), Res({{"GPU", 3}})})),
            GroupState::kCreated);
  // Needs a whole free node: fits the totals, not the free capacity.
  EXPECT_EQ(Create(e, Group("big", Strategy::kStrictPack, {Res({{"GPU", 4}})})),
            GroupState::kPending);
  auto why = e.Explain("big");
  EXPECT_EQ(why->reason,
            "bundle 0 needs GPU 4, but the most free on any node now is GPU 1 (n0); 2 nodes are "
            "full now, 0 nodes can never hold it; it is placed when capacity is released or a "
            "node is added");
  EXPECT_EQ(why->full_now, 2);
  EXPECT_EQ(why->nodes[1].verdict, NodeVerdict::kFullNow);
  EXPECT_EQ(why->nodes[1].have, Quantity::Whole(1));
  // A later, smaller group is placed although "big" waits ahead of it.
  EXPECT_EQ(Create(e, Group("small", Strategy::kPack, {Res({{"GPU", 1}})})), GroupState::kCreated);
  // Releasing "hog" places "big" at once.
  ASSERT_TRUE(e.RemoveGroup("hog").ok());
  EXPECT_EQ(e.Group("big")->state, GroupState::kCreated);
  EXPECT_EQ(e.Group("hog")->state, GroupState::kRemoved);
  EXPECT_TRUE(e.Group("hog")->placed.empty());
}

TEST(StateTest, InfeasibleNamesTheResourceAndTheLargestNode) {
  PlacementEngine e;
  ASSERT_TRUE(e.AddNode({"small", Res({{"CPU", 8}, {"GPU", 4}}), {}}).ok());
  ASSERT_TRUE(e.AddNode({"large", Res({{"CPU", 8}, {"GPU", 8}}), {}}).ok());
  EXPECT_EQ(Create(e, Group("g", Strategy::kPack, {Res({{"CPU", 1}}), Res({{"GPU", 16}})})),
            GroupState::kInfeasible);
  EXPECT_EQ(e.Explain("g")->reason,
            "bundle 1 needs GPU 16, but the most any node has is GPU 8 (large); lower it, or add "
            "a node with GPU 16 or more");
  EXPECT_EQ(e.Explain("g")->never_fits, 0);  // bundle 0 fits both nodes now
  EXPECT_EQ(e.Explain("g")->fits_now, 2);
}

TEST(StateTest, RemoveRestoresExactCapacity) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}, {"GPU", 2}, {"memory", 1e9}})));
  auto before = e.Nodes();
  ASSERT_EQ(Create(e, Group("g", Strategy::kSpread,
                            {Res({{"CPU", 0.3}, {"GPU", 0.25}}), Res({{"CPU", 1.7}, {"GPU", 1}}),
                             Res({{"memory", 12345}, {"GPU", 0.5}})})),
            GroupState::kCreated);
  ASSERT_TRUE(e.RemoveGroup("g").ok());
  auto after = e.Nodes();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].available, after[i].available);
    for (size_t d = 0; d < after[i].gpus.size(); ++d) {
      EXPECT_EQ(after[i].gpus[d].free, Quantity::Whole(1));
    }
  }
}

TEST(StateTest, FractionalSharesPackOntoOneDevice) {
  auto e = EngineWith(Nodes(1, Res({{"GPU", 2}})));
  ASSERT_EQ(Create(e, Group("g", Strategy::kPack, {Res({{"GPU", 0.5}}), Res({{"GPU", 0.5}})})),
            GroupState::kCreated);
  EXPECT_EQ(DevicesOf(e, "g", 0), (std::vector<int>{0}));
  EXPECT_EQ(DevicesOf(e, "g", 1), (std::vector<int>{0}));
  auto n = e.Nodes()[0];
  EXPECT_EQ(n.gpus[0].free, Quantity());
  EXPECT_EQ(n.gpus[1].free, Quantity::Whole(1));
  EXPECT_EQ(n.available.Get("GPU"), Quantity::Whole(1));
}

TEST(ReschedulingTest, SurvivorsStayAndLostBundlesMove) {
  auto e = EngineWith(Nodes(3, Res({{"GPU", 8}})));
  ASSERT_EQ(Create(e, Group("g", Strategy::kStrictSpread, {Res({{"GPU", 8}}), Res({{"GPU", 8}})})),
            GroupState::kCreated);
  auto placed = e.Group("g")->placed;
  std::string lost = placed[1].node;
  std::string kept = placed[0].node;
  ASSERT_TRUE(e.RemoveNode(lost).ok());
  auto g = e.Group("g");
  EXPECT_EQ(g->state, GroupState::kCreated);
  EXPECT_EQ(g->placed[0].node, kept);  // the survivor did not move
  EXPECT_NE(g->placed[1].node, kept);  // strict spread still holds
  EXPECT_NE(g->placed[1].node, lost);
}

TEST(ReschedulingTest, WaitsWithAReasonWhenNoNodeIsLeft) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 8}})));
  ASSERT_EQ(Create(e, Group("g", Strategy::kStrictSpread, {Res({{"GPU", 8}}), Res({{"GPU", 8}})})),
            GroupState::kCreated);
  std::string lost = e.Group("g")->placed[1].node;
  std::string kept = e.Group("g")->placed[0].node;
  ASSERT_TRUE(e.RemoveNode(lost).ok());
  auto g = e.Group("g");
  EXPECT_EQ(g->state, GroupState::kRescheduling);
  ASSERT_EQ(g->placed.size(), 1u);  // the survivor is still held
  EXPECT_EQ(g->placed[0].node, kept);
  auto why = e.Explain("g");
  EXPECT_EQ(why->reason,
            "bundle 1 lost with its node; STRICT_SPREAD needs 1 distinct node besides the 1 it "
            "holds, but only 0 of the 0 nodes can ever hold its bundles; use SPREAD, or add nodes");
  ASSERT_EQ(why->nodes.size(), 1u);
  EXPECT_EQ(why->nodes[0].verdict, NodeVerdict::kUsedByGroup);
  // A new node takes the lost bundle.
  ASSERT_TRUE(e.AddNode({"n9", Res({{"GPU", 8}}), {}}).ok());
  EXPECT_EQ(e.Group("g")->state, GroupState::kCreated);
  EXPECT_EQ(NodesOf(e, "g"), (std::vector<std::string>{kept, "n9"}));
}

TEST(ReschedulingTest, StrictPackMovesAsAWhole) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 4}})));
  ASSERT_EQ(Create(e, Group("g", Strategy::kStrictPack, {Res({{"CPU", 2}}), Res({{"CPU", 2}})})),
            GroupState::kCreated);
  std::string was = NodesOf(e, "g")[0];
  ASSERT_TRUE(e.RemoveNode(was).ok());
  auto nodes = NodesOf(e, "g");
  EXPECT_EQ(e.Group("g")->state, GroupState::kCreated);
  EXPECT_EQ(nodes[0], nodes[1]);
  EXPECT_NE(nodes[0], was);
}

TEST(ValidationTest, RejectsBadGroups) {
  auto e = EngineWith(Nodes(1, Res({{"GPU", 8}})));
  auto empty = e.CreateGroup(Group("g", Strategy::kPack, {}));
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().message(),
            "group \"g\": bundles is empty; a group needs at least one bundle");
  auto frac = e.CreateGroup(Group("g", Strategy::kPack, {Res({{"GPU", 1.5}})}));
  ASSERT_FALSE(frac.has_value());
  EXPECT_EQ(frac.error().message(),
            "group \"g\": bundle 0: GPU 1.5 is not whole; ask below 1 for a share of one device, "
            "or a whole number of devices");
  auto zero = e.CreateGroup(Group("g", Strategy::kPack, {Res({{"CPU", 0}})}));
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(e.group_count(), 0u);  // nothing half-created
  ASSERT_TRUE(e.CreateGroup(Group("g", Strategy::kPack, {Res({{"GPU", 1}})})).has_value());
  auto dup = e.CreateGroup(Group("g", Strategy::kPack, {Res({{"GPU", 1}})}));
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().message(), "group \"g\" already exists; group names must be unique");
  EXPECT_EQ(e.RemoveGroup("nope").code(), ErrorCode::kNotFound);
  EXPECT_EQ(e.RemoveNode("nope").code(), ErrorCode::kNotFound);
  ASSERT_TRUE(e.RemoveGroup("g").ok());
  EXPECT_EQ(e.RemoveGroup("g").message(), "group \"g\" was removed already");
}

TEST(ValidationTest, RejectsBadNodes) {
  PlacementEngine e;
  EXPECT_EQ(e.AddNode({"a", Res({{"GPU", 2.5}}), {}}).message(),
            "node \"a\": GPU 2.5 is not whole; a node has a whole number of GPU devices");
  ASSERT_TRUE(e.AddNode({"a", Res({{"GPU", 2}}), {}}).ok());
  EXPECT_EQ(e.AddNode({"a", Res({{"GPU", 2}}), {}}).message(),
            "node \"a\" already exists; node names must be unique");
}

TEST(CustomResourceTest, UnknownResourceIsInfeasibleNotACrash) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}})));
  EXPECT_EQ(Create(e, Group("g", Strategy::kPack, {Res({{"tpu", 1}})})), GroupState::kInfeasible);
  EXPECT_EQ(e.Explain("g")->reason,
            "bundle 0 needs tpu 1, but the most any node has is tpu 0 (n0); lower it, or add a "
            "node with tpu 1 or more");
  ASSERT_TRUE(e.AddNode({"t", Res({{"CPU", 1}, {"tpu", 4}}), {}}).ok());
  EXPECT_EQ(e.Group("g")->state, GroupState::kCreated);
}

TEST(DeterminismTest, SameCallsSameResult) {
  auto run = [] {
    auto e = EngineWith(Nodes(5, Res({{"CPU", 16}, {"GPU", 4}})));
    for (int i = 0; i < 20; ++i) {
      Strategy s = static_cast<Strategy>(i % 4);
      (void)e.CreateGroup(
          Group("g" + std::to_string(i), s, {Res({{"GPU", 0.5}}), Res({{"CPU", 3}, {"GPU", 1}})}));
      if (i % 3 == 2) (void)e.RemoveGroup("g" + std::to_string(i - 1));
    }
    (void)e.RemoveNode("n2");
    std::string out;
    for (const GroupView& g : e.Groups()) {
      out += g.name + GroupStateName(g.state);
      for (const auto& p : g.placed) {
        out += p.node;
        for (const auto& s : p.gpus) out += std::to_string(s.device) + s.fraction.ToString();
      }
      out += e.Explain(g.name)->reason;
    }
    return out;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace berth
