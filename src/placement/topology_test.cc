// Topology domains (berth/placement.h, Topology): require keeps a group in
// one domain or waits with the reason; prefer falls back across domains and
// says so; the fullest domain that holds a group is used first.

#include "placement/topology.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "berth/placement.h"
#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Res;

// Racks a (a0, a1) and b (b0, b1, b2), 8 GPUs per node.
PlacementEngine Racks() {
  std::vector<NodeSpec> nodes;
  for (const char* n : {"a0", "a1", "b0", "b1", "b2"}) {
    nodes.push_back({n, Res({{"CPU", 32}, {"GPU", 8}}), {{"rack", std::string(1, n[0])}}});
  }
  return EngineWith(nodes);
}

GroupSpec Gang(const std::string& name, int ranks, Topology::Mode mode) {
  std::vector<ResourceSet> bundles(ranks, Res({{"GPU", 8}}));
  GroupSpec g = Group(name, Strategy::kStrictSpread, bundles);
  g.topology = Topology{"rack", mode};
  return g;
}

std::set<char> RacksOf(const PlacementEngine& e, const std::string& group) {
  std::set<char> racks;
  const std::optional<GroupView> view = e.Group(group);  // outlives the loop
  for (const BundlePlacement& p : view->placed) racks.insert(p.node[0]);
  return racks;
}

TEST(TopologyTest, RequireKeepsTheGroupInOneDomainFullestFirst) {
  PlacementEngine e = Racks();
  // Two nodes: rack a is the smaller domain and holds it; b stays whole.
  ASSERT_EQ(e.CreateGroup(Gang("two", 2, Topology::Mode::kRequire)).value(), GroupState::kCreated);
  EXPECT_EQ(RacksOf(e, "two"), (std::set<char>{'a'}));
  EXPECT_EQ(e.Group("two")->domain, "a");
  EXPECT_FALSE(e.Group("two")->across_domains);
  ASSERT_EQ(e.CreateGroup(Gang("three", 3, Topology::Mode::kRequire)).value(),
            GroupState::kCreated);
  EXPECT_EQ(RacksOf(e, "three"), (std::set<char>{'b'}));
}

TEST(TopologyTest, RequireWaitsWhenNoDomainHasRoomAndSaysWhy) {
  PlacementEngine e = Racks();
  GroupSpec one = Group("one", Strategy::kPack, {Res({{"GPU", 8}})});
  one.bundle_label_selector = {{{"rack", "b"}}};
  ASSERT_EQ(e.CreateGroup(one).value(), GroupState::kCreated);  // a node of rack b
  // 4 free nodes, 2 in each rack: a 3-node gang fits no rack now.
  EXPECT_EQ(e.CreateGroup(Gang("three", 3, Topology::Mode::kRequire)).value(),
            GroupState::kPending);
  std::optional<Explanation> why = e.Explain("three");
  EXPECT_EQ(why->reason_code, ReasonCode::kDomainsBusy);
  EXPECT_EQ(why->reason,
            "no single rack domain has room for the group now (rack: a, b), though the cluster "
            "as a whole has; it waits for room in one domain; or use topology mode prefer");
  // It takes rack b once b's node is free again.
  ASSERT_TRUE(e.RemoveGroup("one").ok());
  EXPECT_EQ(e.Group("three")->state, GroupState::kCreated);
  EXPECT_EQ(e.Group("three")->domain, "b");
  // 4 nodes are never in one rack (2 and 3 nodes): INFEASIBLE.
  EXPECT_EQ(e.CreateGroup(Gang("four", 4, Topology::Mode::kRequire)).value(),
            GroupState::kInfeasible);
  why = e.Explain("four");
  EXPECT_EQ(why->reason_code, ReasonCode::kNoDomainFits);
  EXPECT_EQ(why->reason,
            "no single rack domain can hold the group (rack: a, b); use topology mode prefer, or "
            "make a domain larger");
}

TEST(TopologyTest, PreferFallsBackAcrossDomainsAndSaysSo) {
  PlacementEngine e = Racks();
  ASSERT_EQ(e.CreateGroup(Gang("four", 4, Topology::Mode::kPrefer)).value(), GroupState::kCreated);
  EXPECT_EQ(RacksOf(e, "four"), (std::set<char>{'a', 'b'}));
  EXPECT_TRUE(e.Group("four")->across_domains);
  EXPECT_EQ(e.Group("four")->domain, "");
}

TEST(TopologyTest, AnEmptyKeyIsRefused) {
  PlacementEngine e = Racks();
  GroupSpec g = Gang("g", 1, Topology::Mode::kPrefer);
  g.topology->key = "";
  auto r = e.CreateGroup(g);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "group \"g\": topology.key is empty; name the node label whose values are the "
            "domains, such as rack");
}

}  // namespace
}  // namespace berth
