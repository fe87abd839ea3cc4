// berth plan --json: the shape of the plan document and its values.

#include "formats/plan_render.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "roles/plan_test_util.h"

namespace berth::formats {
namespace {

using roles::testutil::GpuNodes;
using roles::testutil::MustPlan;

TEST(PlanJsonTest, EnvAndArgvTravelByteExact) {
  // Commas, '=', quotes and newlines stay as they are after a JSON round trip.
  Plan plan = MustPlan(R"(
name: t
roles:
  - name: a
    placement: separate
    scheduling_spec:
      cmd: [x, "{LIST}", "{SCRIPT}"]
      env_vars:
        LIST: "a=1,b=2, c = 'three' \"four\""
        SCRIPT: |
          line one, with = sign
            indented "quoted"
          last
)",
                       GpuNodes(1, 0));
  const std::string list = "a=1,b=2, c = 'three' \"four\"";
  const std::string script = "line one, with = sign\n  indented \"quoted\"\nlast\n";
  auto j = nlohmann::json::parse(PlanJson("t", plan));
  EXPECT_EQ(j["workers"][0]["env"]["SCRIPT"], script);
  EXPECT_EQ(j["workers"][0]["argv"][1], list);
  EXPECT_EQ(j["workers"][0]["argv"][2], script);
}

TEST(PlanJsonTest, AGroupedForkSaysWhichTargetWorkersItShares) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: actor, replicas: 8, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: gen, replicas: 2, scheduling_strategy: {type: colocation, target: actor},
     scheduling_spec: {gpu: 4, cmd: [y]}}
)",
                       GpuNodes(1, 8));
  auto j = nlohmann::json::parse(PlanJson("t", plan));
  for (const auto& w : j["workers"]) {
    if (w["id"] != "gen/1") continue;
    EXPECT_EQ(w["shares"], nlohmann::json::array({"actor/4", "actor/5", "actor/6", "actor/7"}));
    EXPECT_EQ(w["fork_of"], "actor/4");
    EXPECT_EQ(w["gpus"], nlohmann::json::array({4, 5, 6, 7}));
  }
  EXPECT_FALSE(j["workers"][0].contains("shares"));  // actor/0: no fork
  const std::string text = PlanText("t", plan, GpuNodes(1, 8), "1 node");
  EXPECT_NE(text.find("fork over actor/4..actor/7"), std::string::npos) << text;
}

TEST(PlanJsonTest, Shape) {
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 2, placement: separate, scheduling_spec: {gpu: 0.5, ports: [http], cmd: [x]},
     readiness: {http: {port: http}}, startup_timeout: 12.5}
  - {name: b, replicas: 2, scheduling_strategy: {type: colocation, target: a, fork: false}}
)",
                       GpuNodes(1, 1));
  auto j = nlohmann::json::parse(PlanJson("t", plan));
  EXPECT_EQ(j["experiment"], "t");
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["role"], "a");
  EXPECT_EQ(j["groups"][0]["group"], "a/0");
  EXPECT_EQ(j["groups"][0]["state"], "CREATED");
  EXPECT_EQ(j["groups"][0]["bundles"][0]["gpus"][0]["fraction"], 0.5);
  EXPECT_EQ(j["groups"][0]["bundles"][0]["resources"]["GPU"], 0.5);
  const auto& w = j["workers"][1];
  EXPECT_EQ(w["id"], "a/1");
  EXPECT_EQ(w["gpus"], nlohmann::json::array({0}));
  EXPECT_EQ(w["gpu_fractions"], nlohmann::json::array({0.5}));
  EXPECT_EQ(w["ports"]["http"], 30001);
  EXPECT_EQ(w["readiness"]["kind"], "http");
  EXPECT_EQ(w["readiness"]["path"], "/health");
  EXPECT_EQ(w["startup_timeout"], 12.5);
  EXPECT_FALSE(w.contains("fork_of"));
  EXPECT_EQ(j["aliases"][0]["role"], "b");
  EXPECT_EQ(j["aliases"][0]["target"], "a");
  EXPECT_TRUE(j["warnings"].is_array());
  // env keeps berth's order, not alphabetical.
  const std::string text = PlanJson("t", plan);
  EXPECT_LT(text.find("\"BERTH_WORKER_ID\""), text.find("\"BERTH_NODE\""));
}

}  // namespace
}  // namespace berth::formats
