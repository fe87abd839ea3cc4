// Label selectors: Ray's four forms, a missing label, errors that name the
// field; and the engine placing bundles only on nodes whose labels match,
// with INFEASIBLE saying which labels no node has.

#include "placement/label_selector.h"

#include <gtest/gtest.h>

#include <string>

#include "berth/placement.h"
#include "testing/cluster_builder.h"

namespace berth::placement {
namespace {

using berth::testing::EngineWith;
using berth::testing::Group;
using berth::testing::Res;

bool Match(const Labels& selector, const Labels& node) {
  auto terms = ParseLabelSelector(selector, "sel");
  EXPECT_TRUE(terms.has_value()) << terms.error().ToString();
  return terms.has_value() && LabelsMatch(*terms, node);
}

TEST(LabelSelectorTest, TheFourForms) {
  const Labels node = {{"rack", "a"}, {"gpu_type", "H100"}};
  EXPECT_TRUE(Match({{"rack", "a"}}, node));
  EXPECT_FALSE(Match({{"rack", "b"}}, node));
  EXPECT_TRUE(Match({{"rack", "!b"}}, node));
  EXPECT_FALSE(Match({{"rack", "!a"}}, node));
  EXPECT_TRUE(Match({{"gpu_type", "in(A100, H100)"}}, node));
  EXPECT_FALSE(Match({{"gpu_type", "in(A100,L40S)"}}, node));
  EXPECT_TRUE(Match({{"gpu_type", "!in(A100,L40S)"}}, node));
  EXPECT_FALSE(Match({{"gpu_type", "!in(H100)"}}, node));
  // All terms must hold.
  EXPECT_FALSE(Match({{"rack", "a"}, {"gpu_type", "A100"}}, node));
  EXPECT_TRUE(Match({}, node));
}

TEST(LabelSelectorTest, AMissingLabelMatchesOnlyTheNegativeForms) {
  EXPECT_FALSE(Match({{"zone", "z1"}}, {}));
  EXPECT_FALSE(Match({{"zone", "in(z1,z2)"}}, {}));
  EXPECT_TRUE(Match({{"zone", "!z1"}}, {}));
  EXPECT_TRUE(Match({{"zone", "!in(z1,z2)"}}, {}));
}

TEST(LabelSelectorTest, ErrorsNameTheFieldTheValueAndTheForms) {
  auto bad = [](const Labels& sel) {
    auto r = ParseLabelSelector(sel, "bundle_label_selector[1]");
    return r.has_value() ? std::string("accepted") : r.error().message();
  };
  const std::string forms = "; write one of \"v\", \"!v\", \"in(a,b)\", \"!in(a,b)\"";
  EXPECT_EQ(bad({{"rack", "in(a,b"}}),
            "bundle_label_selector[1].rack: \"in(a,b\" has no closing parenthesis" + forms);
  EXPECT_EQ(bad({{"rack", "in(a,,b)"}}),
            "bundle_label_selector[1].rack: \"in(a,,b)\" has an empty or malformed value in its "
            "list" +
                forms);
  EXPECT_EQ(bad({{"rack", ""}}),
            "bundle_label_selector[1].rack: \"\" is not a label value" + forms);
  EXPECT_EQ(bad({{"rack", "a b"}}),
            "bundle_label_selector[1].rack: \"a b\" is not a label value" + forms);
  EXPECT_EQ(bad({{"ra ck", "a"}}),
            "bundle_label_selector[1]: label key \"ra ck\" is not a label key; use letters, "
            "digits, '-', '_', '.' and '/'");
}

TEST(LabelSelectorTest, EngineUsesOnlyMatchingNodes) {
  auto e = EngineWith({{"a0", Res({{"GPU", 8}}), {{"rack", "a"}}},
                       {"b0", Res({{"GPU", 8}}), {{"rack", "b"}}},
                       {"b1", Res({{"GPU", 8}}), {{"rack", "b"}, {"gpu_type", "H100"}}}});
  GroupSpec g = Group("g", Strategy::kSpread, {Res({{"GPU", 4}}), Res({{"GPU", 4}})});
  g.bundle_label_selector = {{{"rack", "b"}}, {{"gpu_type", "H100"}}};
  ASSERT_EQ(e.CreateGroup(g).value(), GroupState::kCreated);
  auto view = e.Group("g");
  EXPECT_EQ(view->placed[0].node, "b0");
  EXPECT_EQ(view->placed[1].node, "b1");
  // b1's other 4 GPUs are free, but the bundle may not use rack b: it waits
  // for a0's GPUs rather than taking b1's.
  GroupSpec full = Group("full", Strategy::kPack, {Res({{"GPU", 8}})});
  full.bundle_label_selector = {{{"rack", "a"}}};
  ASSERT_EQ(e.CreateGroup(full).value(), GroupState::kCreated);
  GroupSpec wait = Group("wait", Strategy::kPack, {Res({{"GPU", 4}})});
  wait.bundle_label_selector = {{{"rack", "!b"}}};
  EXPECT_EQ(e.CreateGroup(wait).value(), GroupState::kPending);
  ASSERT_TRUE(e.RemoveGroup("full").ok());
  EXPECT_EQ(e.Group("wait")->state, GroupState::kCreated);
  EXPECT_EQ(e.Group("wait")->placed[0].node, "a0");
}

TEST(LabelSelectorTest, TheFirstSelectorSplitsNodesThatLookAlike) {
  // Equal nodes but for a label: one class while nothing selects (a plain
  // group looks at one of them), two once a group selects by the label.
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < 6; ++i) {
    nodes.push_back({"n" + std::to_string(i), Res({{"GPU", 8}}), {{"rack", i < 5 ? "a" : "b"}}});
  }
  auto e = EngineWith(nodes);
  ASSERT_EQ(e.CreateGroup(Group("plain", Strategy::kPack, {Res({{"GPU", 8}})})).value(),
            GroupState::kCreated);
  GroupSpec b = Group("b", Strategy::kStrictSpread, {Res({{"GPU", 4}})});
  b.bundle_label_selector = {{{"rack", "b"}}};
  ASSERT_EQ(e.CreateGroup(b).value(), GroupState::kCreated);
  EXPECT_EQ(e.Group("b")->placed[0].node, "n5");
  GroupSpec b2 = Group("b2", Strategy::kPack, {Res({{"GPU", 4}})});
  b2.bundle_label_selector = {{{"rack", "b"}}};
  ASSERT_EQ(e.CreateGroup(b2).value(), GroupState::kCreated);
  EXPECT_EQ(e.Group("b2")->placed[0].node, "n5");
}

TEST(LabelSelectorTest, NoNodeWithTheLabelsIsInfeasibleAndSaysWhich) {
  auto e = EngineWith({{"a0", Res({{"GPU", 8}}), {{"rack", "a"}}}, {"n1", Res({{"GPU", 8}}), {}}});
  GroupSpec g = Group("g", Strategy::kPack, {Res({{"GPU", 1}}), Res({{"GPU", 1}})});
  g.bundle_label_selector = {{}, {{"gpu_type", "in(B200,GB200)"}, {"rack", "a"}}};
  ASSERT_EQ(e.CreateGroup(g).value(), GroupState::kInfeasible);
  std::optional<Explanation> why = e.Explain("g");
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->reason_code, ReasonCode::kNoNodeMatchesLabels);
  EXPECT_EQ(why->bundle, 1);
  EXPECT_EQ(why->reason,
            "bundle 1 asks for labels {gpu_type: in(B200,GB200), rack: a}, and no node has them; "
            "change its bundle_label_selector, or add a node with those labels");
  // Per node: which term rules it out.
  GroupSpec one = Group("one", Strategy::kPack, {Res({{"GPU", 1}})});
  one.bundle_label_selector = {{{"rack", "a"}, {"zone", "z1"}}};
  ASSERT_EQ(e.CreateGroup(one).value(), GroupState::kInfeasible);
  why = e.Explain("one");
  ASSERT_EQ(why->nodes.size(), 2U);
  EXPECT_EQ(why->nodes[0].verdict, NodeVerdict::kNeverFits);
  EXPECT_EQ(why->nodes[0].resource, "label zone: z1");
  EXPECT_EQ(why->nodes[1].resource, "label rack: a");
}

TEST(LabelSelectorTest, ABundleTooLargeForTheMatchingNodesNamesThem) {
  auto e =
      EngineWith({{"small", Res({{"GPU", 2}}), {{"pool", "x"}}}, {"big", Res({{"GPU", 8}}), {}}});
  GroupSpec g = Group("g", Strategy::kPack, {Res({{"GPU", 4}})});
  g.bundle_label_selector = {{{"pool", "x"}}};
  ASSERT_EQ(e.CreateGroup(g).value(), GroupState::kInfeasible);
  std::optional<Explanation> why = e.Explain("g");
  EXPECT_EQ(why->reason_code, ReasonCode::kBundleTooLarge);
  EXPECT_EQ(why->node, "small");  // the most any node it may use has
}

TEST(LabelSelectorTest, ASelectorPerBundleOrNone) {
  auto e = EngineWith({{"n0", Res({{"GPU", 8}}), {}}});
  GroupSpec g = Group("g", Strategy::kPack, {Res({{"GPU", 1}}), Res({{"GPU", 1}})});
  g.bundle_label_selector = {{{"rack", "a"}}};
  auto r = e.CreateGroup(g);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "group \"g\": bundle_label_selector has 1 entries for 2 bundles; give one map per "
            "bundle ({} for none), or none at all");
  g.bundle_label_selector = {{}, {{"rack", "!!a"}}};
  r = e.CreateGroup(g);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("group \"g\": bundle_label_selector[1].rack: \"!!a\""),
            std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace berth::placement
