// The engine's Explanation as data: one reason code, hint and shortfall for
// each case explain.cc tells apart; the Status that carries it through the
// propagating macros and a re-wrap; and ErrorText, where it becomes text.

#include "berth/explanation.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "berth/placement.h"
#include "berth/status.h"
#include "placement/explain_text.h"
#include "testing/cluster_builder.h"

namespace berth {
namespace {

using testing::EngineWith;
using testing::Group;
using testing::Nodes;
using testing::Res;

// Creates `g` (expecting `state`) and returns the engine's explanation.
Explanation Explained(PlacementEngine& e, const GroupSpec& g, GroupState state) {
  Result<GroupState> st = e.CreateGroup(g);
  EXPECT_TRUE(st.has_value()) << st.error().ToString();
  if (st.has_value()) EXPECT_EQ(*st, state) << GroupStateName(*st);
  std::optional<Explanation> why = e.Explain(g.name);
  EXPECT_TRUE(why.has_value());
  return why ? *why : Explanation();
}

// The reason is what is short, then "; " and the hint.
void ExpectReasonEndsWithHint(const Explanation& x) {
  ASSERT_FALSE(x.hint.empty());
  ASSERT_GT(x.reason.size(), x.hint.size() + 2);
  EXPECT_EQ(x.reason.substr(x.reason.size() - x.hint.size() - 2), "; " + x.hint) << x.reason;
}

TEST(ReasonCodeTest, NoNodes) {
  PlacementEngine e;
  Explanation x =
      Explained(e, Group("g", Strategy::kPack, {Res({{"CPU", 1}})}), GroupState::kInfeasible);
  EXPECT_EQ(x.group, "g");
  EXPECT_EQ(x.reason_code, ReasonCode::kNoNodes);
  EXPECT_EQ(x.hint, "add a node");
  EXPECT_EQ(x.reason, "the cluster has no nodes; add a node");
  EXPECT_TRUE(x.nodes.empty());
}

TEST(ReasonCodeTest, BundleTooLargeNamesTheResourceAndTheLargestNode) {
  PlacementEngine e;
  ASSERT_TRUE(e.AddNode({"small", Res({{"CPU", 8}, {"GPU", 4}}), {}}).ok());
  ASSERT_TRUE(e.AddNode({"large", Res({{"CPU", 8}, {"GPU", 8}}), {}}).ok());
  Explanation x = Explained(e, Group("g", Strategy::kPack, {Res({{"CPU", 1}}), Res({{"GPU", 16}})}),
                            GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kBundleTooLarge);
  EXPECT_EQ(x.hint, "lower it, or add a node with GPU 16 or more");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.bundle, 1);
  EXPECT_EQ(x.node, "large");
  EXPECT_EQ(x.resource, "GPU");
  EXPECT_EQ(x.need, Quantity::Whole(16));
  EXPECT_EQ(x.have, Quantity::Whole(8));
  EXPECT_FALSE(x.budget_exhausted);
  EXPECT_TRUE(x.lost.empty());
}

TEST(ReasonCodeTest, BundleFitsNoNodeWhenNoNodeHasAllOfIt) {
  PlacementEngine e;
  ASSERT_TRUE(e.AddNode({"cpus", Res({{"CPU", 8}}), {}}).ok());
  ASSERT_TRUE(e.AddNode({"gpus", Res({{"CPU", 1}, {"GPU", 8}}), {}}).ok());
  Explanation x = Explained(e, Group("g", Strategy::kPack, {Res({{"CPU", 4}, {"GPU", 4}})}),
                            GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kBundleFitsNoNode);
  EXPECT_EQ(x.hint, "lower it, or add a node that does");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.bundle, 0);
  EXPECT_EQ(x.resource, "");  // no single resource is short
  EXPECT_EQ(x.never_fits, 2);
}

TEST(ReasonCodeTest, StrictPackTooLarge) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}, {"GPU", 4}})));
  Explanation x =
      Explained(e, Group("g", Strategy::kStrictPack, {Res({{"GPU", 3}}), Res({{"GPU", 3}})}),
                GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kStrictPackTooLarge);
  EXPECT_EQ(x.hint, "use PACK, or add a node with GPU 6 or more");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.bundle, -1);  // the group as a whole
  EXPECT_EQ(x.node, "n0");
  EXPECT_EQ(x.resource, "GPU");
  EXPECT_EQ(x.need, Quantity::Whole(6));
  EXPECT_EQ(x.have, Quantity::Whole(4));
}

TEST(ReasonCodeTest, StrictSpreadTooFewNodesCountsNodes) {
  auto e = EngineWith(Nodes(2, Res({{"CPU", 8}})));
  std::vector<ResourceSet> three(3, Res({{"CPU", 1}}));
  Explanation x = Explained(e, Group("g", Strategy::kStrictSpread, three), GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kStrictSpreadTooFewNodes);
  EXPECT_EQ(x.hint, "use SPREAD, or add nodes");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.resource, "nodes");
  EXPECT_EQ(x.need, Quantity::Whole(3));
  EXPECT_EQ(x.have, Quantity::Whole(2));
}

TEST(ReasonCodeTest, ClusterTooSmallComparesWithTheWholeCluster) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  std::vector<ResourceSet> three(3, Res({{"GPU", 3}}));
  Explanation x = Explained(e, Group("g", Strategy::kPack, three), GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kClusterTooSmall);
  EXPECT_EQ(x.hint, "lower them, or add nodes");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.bundle, -1);
  EXPECT_EQ(x.node, "");  // the whole cluster
  EXPECT_EQ(x.resource, "GPU");
  EXPECT_EQ(x.need, Quantity::Whole(9));
  EXPECT_EQ(x.have, Quantity::Whole(8));
}

TEST(ReasonCodeTest, BundlesDoNotPackThoughTheTotalIsEnough) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  Explanation x = Explained(
      e, Group("g", Strategy::kPack, {Res({{"GPU", 3}}), Res({{"GPU", 3}}), Res({{"GPU", 2}})}),
      GroupState::kInfeasible);
  EXPECT_EQ(x.reason_code, ReasonCode::kBundlesDoNotPack);
  EXPECT_EQ(x.hint, "lower them, or add nodes");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.resource, "");
}

TEST(ReasonCodeTest, NodesBusyNamesTheMostFree) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  ASSERT_TRUE(e.CreateGroup(Group("hog", Strategy::kPack, {Res({{"GPU", 3}}), Res({{"GPU", 3}})}))
                  .has_value());
  Explanation x =
      Explained(e, Group("big", Strategy::kStrictPack, {Res({{"GPU", 4}})}), GroupState::kPending);
  EXPECT_EQ(x.reason_code, ReasonCode::kNodesBusy);
  EXPECT_EQ(x.hint, "it is placed when capacity is released or a node is added");
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.bundle, 0);
  EXPECT_EQ(x.node, "n0");
  EXPECT_EQ(x.resource, "GPU");
  EXPECT_EQ(x.need, Quantity::Whole(4));
  EXPECT_EQ(x.have, Quantity::Whole(1));
  EXPECT_EQ(x.full_now, 2);
}

TEST(ReasonCodeTest, StrictPackNodesBusy) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  ASSERT_TRUE(
      e.CreateGroup(Group("hog", Strategy::kStrictSpread, {Res({{"GPU", 2}}), Res({{"GPU", 2}})}))
          .has_value());
  Explanation x =
      Explained(e, Group("g", Strategy::kStrictPack, {Res({{"GPU", 2}}), Res({{"GPU", 2}})}),
                GroupState::kPending);
  EXPECT_EQ(x.reason_code, ReasonCode::kStrictPackNodesBusy);
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.full_now, 2);
}

TEST(ReasonCodeTest, StrictSpreadNodesBusy) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 1}})));
  ASSERT_TRUE(e.CreateGroup(Group("hog", Strategy::kPack, {Res({{"GPU", 1}})})).has_value());
  Explanation x =
      Explained(e, Group("g", Strategy::kStrictSpread, {Res({{"GPU", 1}}), Res({{"GPU", 1}})}),
                GroupState::kPending);
  EXPECT_EQ(x.reason_code, ReasonCode::kStrictSpreadNodesBusy);
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.resource, "nodes");
  EXPECT_EQ(x.need, Quantity::Whole(2));
  EXPECT_EQ(x.have, Quantity::Whole(1));
}

TEST(ReasonCodeTest, FreeCapacityFragmented) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 4}})));
  ASSERT_TRUE(
      e.CreateGroup(Group("hog", Strategy::kStrictSpread, {Res({{"GPU", 2}}), Res({{"GPU", 2}})}))
          .has_value());
  std::vector<ResourceSet> three(3, Res({{"GPU", 2}}));
  Explanation x = Explained(e, Group("g", Strategy::kPack, three), GroupState::kPending);
  EXPECT_EQ(x.reason_code, ReasonCode::kFreeCapacityFragmented);
  ExpectReasonEndsWithHint(x);
  EXPECT_EQ(x.fits_now, 2);
}

TEST(ReasonCodeTest, ReschedulingListsTheLostBundles) {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 1}})));
  ASSERT_EQ(
      *e.CreateGroup(Group("s", Strategy::kStrictSpread, {Res({{"GPU", 1}}), Res({{"GPU", 1}})})),
      GroupState::kCreated);
  ASSERT_TRUE(e.RemoveNode("n1").ok());
  std::optional<Explanation> x = e.Explain("s");
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->lost, std::vector<int>{1});
  EXPECT_EQ(x->reason.rfind("bundle 1 lost with its node; ", 0), 0u) << x->reason;
  EXPECT_EQ(x->reason_code, ReasonCode::kStrictSpreadTooFewNodes);
}

TEST(ReasonCodeTest, PlacedGroupsHaveNone) {
  auto e = EngineWith(Nodes(1, Res({{"GPU", 1}})));
  Explanation x =
      Explained(e, Group("g", Strategy::kPack, {Res({{"GPU", 1}})}), GroupState::kCreated);
  EXPECT_EQ(x.group, "g");
  EXPECT_EQ(x.reason_code, ReasonCode::kNone);
  EXPECT_EQ(x.reason, "");
  EXPECT_EQ(x.hint, "");
}

TEST(ReasonCodeTest, NamesAreStableSnakeCase) {
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kNone), "none");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kNoNodes), "no_nodes");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kBundleTooLarge), "bundle_too_large");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kBundleFitsNoNode), "bundle_fits_no_node");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kStrictPackTooLarge), "strict_pack_too_large");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kStrictSpreadTooFewNodes), "strict_spread_too_few_nodes");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kClusterTooSmall), "cluster_too_small");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kBundlesDoNotPack), "bundles_do_not_pack");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kNodesBusy), "nodes_busy");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kStrictPackNodesBusy), "strict_pack_nodes_busy");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kStrictSpreadNodesBusy), "strict_spread_nodes_busy");
  EXPECT_STREQ(ReasonCodeName(ReasonCode::kFreeCapacityFragmented), "free_capacity_fragmented");
}

// --- carried by a Status -------------------------------------------------------------------

std::shared_ptr<const Explanation> SomeExplanation() {
  auto e = EngineWith(Nodes(2, Res({{"GPU", 2}})));
  (void)e.CreateGroup(Group("big", Strategy::kPack, {Res({{"GPU", 4}})}));
  return std::make_shared<const Explanation>(*e.Explain("big"));
}

Result<int> Place(const std::shared_ptr<const Explanation>& why) {
  return Infeasible("group \"big\" is not placed").WithExplanation(why);
}

Result<int> Propagated(const std::shared_ptr<const Explanation>& why) {
  BERTH_ASSIGN_OR_RETURN(int n, Place(why));
  return n;
}

Status Checked(const std::shared_ptr<const Explanation>& why) {
  BERTH_RETURN_IF_ERROR(Propagated(why).error());
  return Status::Ok();
}

TEST(StatusExplanationTest, TravelsThroughTheMacrosAndARewrap) {
  const std::shared_ptr<const Explanation> why = SomeExplanation();
  Result<int> r = Propagated(why);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().explanation(), why.get());  // the same object, not a copy
  Status st = Checked(why);
  EXPECT_EQ(st.explanation(), why.get());

  // A caller that adds where it happened keeps the code and the explanation.
  Status wrapped = r.error().WithPrefix("plan.yaml: ");
  EXPECT_EQ(wrapped.code(), ErrorCode::kInfeasible);
  EXPECT_EQ(wrapped.message(), "plan.yaml: group \"big\" is not placed");
  EXPECT_EQ(wrapped.explanation(), why.get());
  Status renamed = wrapped.WithMessage("create_workers(\"big\"): it does not fit");
  EXPECT_EQ(renamed.code(), ErrorCode::kInfeasible);
  EXPECT_EQ(renamed.shared_explanation(), why);
  EXPECT_EQ(renamed.explanation()->reason_code, ReasonCode::kBundleTooLarge);

  // A new Status from the message alone has none: that is what WithPrefix is for.
  Status rebuilt(wrapped.code(), wrapped.message());
  EXPECT_EQ(rebuilt.explanation(), nullptr);
}

TEST(StatusExplanationTest, OkStaysBare) {
  EXPECT_EQ(Status::Ok().WithExplanation(SomeExplanation()).explanation(), nullptr);
  EXPECT_TRUE(Status::Ok().WithExplanation(SomeExplanation()).ok());
  EXPECT_EQ(InvalidSpec("x").explanation(), nullptr);
}

TEST(ErrorTextTest, RendersTheNodesBelowTheMessage) {
  Status st = Infeasible("group \"big\" is not placed").WithExplanation(SomeExplanation());
  EXPECT_EQ(placement::ErrorText(st),
            "group \"big\" is not placed\n"
            "  nodes: 0 fit now, 0 full now, 2 never fit\n"
            "    n0  never_fits  bundle 0: GPU needs 4, has 2\n"
            "    n1  never_fits  bundle 0: GPU needs 4, has 2");
  EXPECT_EQ(placement::ErrorText(InvalidSpec("bad")), "bad");
}

TEST(ErrorTextTest, IndentsEveryLine) {
  std::string text = placement::ExplanationText(*SomeExplanation(), ">>");
  EXPECT_EQ(text,
            ">>  nodes: 0 fit now, 0 full now, 2 never fit\n"
            ">>    n0  never_fits  bundle 0: GPU needs 4, has 2\n"
            ">>    n1  never_fits  bundle 0: GPU needs 4, has 2\n");
}

}  // namespace
}  // namespace berth
