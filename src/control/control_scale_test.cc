// POST /v1/roles/<role>/scale: its body, checked before the handler is asked.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "control/control_server.h"
#include "control/control_test_util.h"

namespace berth::control {
namespace {

using Handlers = StubHandlers;  // every endpoint but scale: 200, nothing done

class ScaleHandlers : public Handlers {
 public:
  ControlReply ScaleRole(const std::string& role, int replicas,
                         std::optional<double> timeout_s) override {
    asked.emplace_back(role, replicas, timeout_s);
    return {};
  }
  std::vector<std::tuple<std::string, int, std::optional<double>>> asked;
};

ControlReply Post(ControlHandlers& h, const std::string& path, const std::string& body) {
  return RouteControlRequest(h, "POST", path, {}, body);
}

TEST(ControlScaleTest, PassesRoleReplicasAndTimeout) {
  ScaleHandlers h;
  EXPECT_EQ(Post(h, "/v1/roles/rollout/scale", R"({"replicas": 4})").status, 200);
  EXPECT_EQ(Post(h, "/v1/roles/rollout/scale", R"({"replicas": 1, "timeout": 2.5})").status, 200);
  using Asked = std::tuple<std::string, int, std::optional<double>>;
  EXPECT_EQ(h.asked, (std::vector<Asked>{{"rollout", 4, std::nullopt}, {"rollout", 1, 2.5}}));
}

TEST(ControlScaleTest, RefusesBadBodiesNamingTheField) {
  ScaleHandlers h;
  const std::pair<std::string, std::string> cases[] = {
      {"", "request body is empty"},
      {"{", "not valid JSON"},
      {"[]", "object"},
      {"{}", "\"replicas\" is missing"},
      {R"({"replicas": 0})", "replicas: 0 is not a whole number of instances from 1 to 65536"},
      {R"({"replicas": 2.5})", "replicas: 2.5"},
      {R"({"replicas": "3"})", "replicas: \"3\""},
      {R"({"replicas": 70000})", "replicas: 70000"},
      {R"({"replicas": 2, "timeout": 0})", "timeout: 0 is not a number of seconds"},
      {R"({"replicas": 2, "timeout": "5"})", "timeout: \"5\""},
      {R"({"replicas": 2, "instances": 3})",
       "unknown key \"instances\"; allowed: replicas, timeout"},
  };
  for (const auto& [body, expect] : cases) {
    ControlReply r = Post(h, "/v1/roles/rollout/scale", body);
    EXPECT_EQ(r.status, 400) << body;
    const std::string message = r.body["error"]["message"].get<std::string>();
    EXPECT_NE(message.find(expect), std::string::npos) << body << ": " << message;
  }
  EXPECT_TRUE(h.asked.empty());
  // A query string is not one of its parameters.
  EXPECT_EQ(RouteControlRequest(h, "POST", "/v1/roles/rollout/scale", {{"replicas", "2"}},
                                R"({"replicas": 2})")
                .status,
            400);
}

TEST(ControlScaleTest, AServerThatCannotScaleSaysSo) {
  Handlers h;  // ControlHandlers' own ScaleRole
  ControlReply r = Post(h, "/v1/roles/rollout/scale", R"({"replicas": 2})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.dump().find("cannot scale"), std::string::npos);
}

}  // namespace
}  // namespace berth::control
