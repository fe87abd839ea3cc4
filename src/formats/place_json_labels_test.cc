// `berth place` input: a create op's bundle_label_selector (Ray's name and
// syntax, one object per bundle), parsed and checked for its shape; the
// selector expressions themselves are checked by the engine.

#include <gtest/gtest.h>

#include <string>

#include "formats/place_json.h"

namespace berth::formats {
namespace {

std::string Create(const std::string& selector) {
  return R"({"ops": [{"op": "create", "group": "g", "strategy": "PACK",)"
         R"( "bundles": [{"GPU": 1}, {"GPU": 1}], "bundle_label_selector": )" +
         selector + "}]}";
}

std::string ErrorOf(const std::string& text) {
  auto r = ParseOps(text, "ops.json");
  return r.has_value() ? std::string("<no error>") : r.error().message();
}

TEST(PlaceJsonLabelsTest, ParsesOneSelectorPerBundle) {
  auto ops = ParseOps(Create(R"x([{}, {"rack": "in(a,b)", "gpu_type": "!A100"}])x"), "ops.json");
  ASSERT_TRUE(ops.has_value()) << ops.error().ToString();
  const GroupSpec& g = (*ops)[0].group;
  ASSERT_EQ(g.bundle_label_selector.size(), 2U);
  EXPECT_TRUE(g.bundle_label_selector[0].empty());
  EXPECT_EQ(g.bundle_label_selector[1].at("rack"), "in(a,b)");
  EXPECT_EQ(g.bundle_label_selector[1].at("gpu_type"), "!A100");
}

TEST(PlaceJsonLabelsTest, RejectsWrongShapes) {
  EXPECT_EQ(ErrorOf(Create(R"({"rack": "a"})")),
            "ops.json: ops[0].bundle_label_selector: must be an array of one object per bundle, "
            "like [{\"rack\": \"a\"}], got {...}");
  EXPECT_EQ(ErrorOf(Create(R"([{"rack": 1}, {}])")),
            "ops.json: ops[0].bundle_label_selector[0].rack: must be a string, got 1");
  EXPECT_EQ(ErrorOf(Create(R"(["a", {}])")),
            "ops.json: ops[0].bundle_label_selector[0]: must be an object of strings, got \"a\"");
}

}  // namespace
}  // namespace berth::formats
