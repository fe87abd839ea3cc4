// The public JSON documents (include/berth/json.h).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "berth/json.h"
#include "berth/ports.h"

namespace berth {
namespace {

TEST(PublicJsonTest, ParsesACluster) {
  Result<std::vector<NodeSpec>> nodes = ParseClusterJson(
      R"({"nodes": [{"name": "n0", "resources": {"CPU": 8, "GPU": 2}, "labels": {"rack": "a"}}]})",
      "cluster.json");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 1U);
  EXPECT_EQ((*nodes)[0].name, "n0");
  EXPECT_EQ((*nodes)[0].resources.Get(kGpu), Quantity::Whole(2));
  EXPECT_EQ((*nodes)[0].labels.at("rack"), "a");
}

TEST(PublicJsonTest, ClusterErrorsNameTheFileAndField) {
  Result<std::vector<NodeSpec>> bad =
      ParseClusterJson(R"({"nodes": [{"name": "n0", "resources": {"GPU": 1.5}}]})", "c.json");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(bad.error().message().rfind("c.json: nodes[0].resources.GPU", 0), 0U)
      << bad.error().message();
  Result<std::vector<NodeSpec>> broken = ParseClusterJson("{\"nodes\": [", "c.json");
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code(), ErrorCode::kInvalidSpec);
}

TEST(PublicJsonTest, ParsesARole) {
  Result<RoleSpec> role = ParseRoleJson(
      R"({"name": "actor", "replicas": 2, "scheduling_spec": {"gpu": 1, "cmd": ["x"]}})", "job");
  ASSERT_TRUE(role.has_value()) << role.error().ToString();
  EXPECT_EQ(role->name, "actor");
  EXPECT_EQ(role->replicas, 2);
  ASSERT_EQ(role->tasks.size(), 1U);
  EXPECT_EQ(role->tasks[0].gpu, Quantity::Whole(1));

  Result<RoleSpec> bad = ParseRoleJson(R"({"name": "actor", "replicas": "two"})", "job");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_NE(bad.error().message().find("role.replicas"), std::string::npos)
      << bad.error().message();
  EXPECT_FALSE(ParseRoleJson("[", "job").has_value());
}

TEST(PublicJsonTest, PlanAsJson) {
  ExperimentSpec e;
  e.name = "demo";
  RoleSpec r;
  r.name = "actor";
  r.replicas = 2;
  SchedulingSpec spec;
  spec.gpu = Quantity::Whole(1);
  spec.cmd = {"train", "--rank={RANK}"};
  spec.env_vars = {{"BAD", std::string("\xff\xfe")}};  // not UTF-8: replaced, no exception
  r.tasks = {spec};
  e.roles = {r};
  const std::vector<NodeSpec> nodes = {
      {"n0", {{"CPU", Quantity::Whole(8)}, {"GPU", Quantity::Whole(2)}}, {}}};
  Result<Plan> plan = MakePlan(e, nodes, CountingPorts());
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  Result<std::string> json = PlanToJson(e.name, *plan);
  ASSERT_TRUE(json.has_value()) << json.error().ToString();
  EXPECT_EQ(json->rfind("{\n  \"experiment\": \"demo\"", 0), 0U) << *json;
  EXPECT_NE(json->find("\"--rank=1\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\xef\xbf\xbd"), std::string::npos) << *json;  // U+FFFD
  EXPECT_EQ(json->back(), '\n');
}

}  // namespace
}  // namespace berth
