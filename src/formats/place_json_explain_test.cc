// ExplanationJson: the one JSON writer of the engine's Explanation (berth
// place's "explain", the control API's and Python's error.explain).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "berth/explanation.h"
#include "berth/placement.h"
#include "formats/place_json.h"

namespace berth::formats {
namespace {

using Json = nlohmann::json;

TEST(ExplanationJsonTest, OneObjectWithEveryField) {
  Explanation e;
  e.group = "actor";
  e.reason_code = ReasonCode::kBundleTooLarge;
  e.reason = "bundle 0 needs GPU 16, but the most any node has is GPU 8 (n0); lower it";
  e.hint = "lower it";
  e.bundle = 0;
  e.node = "n0";
  e.resource = "GPU";
  e.need = Quantity::Whole(16);
  e.have = Quantity::Whole(8);
  e.lost = {1, 2};
  e.budget_exhausted = true;
  e.never_fits = 1;
  e.nodes.push_back(
      {"n0", NodeVerdict::kNeverFits, 0, "GPU", Quantity::Whole(16), Quantity::Whole(8)});
  const std::string text = ExplanationJson(e);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;  // compact
  EXPECT_EQ(Json::parse(text), Json::parse(R"({
      "group": "actor", "reason_code": "bundle_too_large",
      "reason": "bundle 0 needs GPU 16, but the most any node has is GPU 8 (n0); lower it",
      "hint": "lower it", "bundle": 0, "node": "n0", "resource": "GPU", "need": 16, "have": 8,
      "lost": [1, 2], "budget_exhausted": true,
      "fits_now": 0, "full_now": 0, "never_fits": 1,
      "nodes": [{"node": "n0", "verdict": "never_fits", "bundle": 0, "resource": "GPU",
                 "need": 16, "have": 8}]})"));
  // The group and the code lead, as a person reads them.
  EXPECT_EQ(text.rfind(R"({"group":"actor","reason_code":"bundle_too_large",)", 0), 0u) << text;
}

TEST(ExplanationJsonTest, NoShortResourceNoShortfallFields) {
  Explanation e;
  e.group = "g";
  e.reason_code = ReasonCode::kBundlesDoNotPack;
  const Json j = Json::parse(ExplanationJson(e));
  EXPECT_EQ(j["reason_code"], "bundles_do_not_pack");
  EXPECT_EQ(j["bundle"], -1);
  for (const char* key : {"node", "resource", "need", "have", "lost", "budget_exhausted"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
}

TEST(ExplanationJsonTest, IsTheExplainOfAGroupInRenderState) {
  PlacementEngine engine;
  ResourceSet gpus;
  gpus.Set(kGpu, Quantity::Whole(2));
  ASSERT_TRUE(engine.AddNode({"n0", gpus, {}}).ok());
  ResourceSet big;
  big.Set(kGpu, Quantity::Whole(4));
  ASSERT_TRUE(engine.CreateGroup({"big", Strategy::kPack, {big}}).has_value());
  const Json state = Json::parse(RenderState(engine));
  EXPECT_EQ(state["groups"][0]["explain"], Json::parse(ExplanationJson(*engine.Explain("big"))));
  EXPECT_EQ(state["groups"][0]["explain"]["reason_code"], "bundle_too_large");
  EXPECT_EQ(state["groups"][0]["explain"]["group"], "big");
}

}  // namespace
}  // namespace berth::formats
