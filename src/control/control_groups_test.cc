// GET /v1/groups/<name>: its query, checked before the handler is asked.

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "control/control_server.h"
#include "control/control_test_util.h"

namespace berth::control {
namespace {

using Handlers = StubHandlers;

class GroupHandlers : public Handlers {
 public:
  ControlReply GetGroup(const std::string& name, int64_t after, double timeout_s) override {
    asked.emplace_back(name, after, timeout_s);
    return {};
  }
  std::vector<std::tuple<std::string, int64_t, double>> asked;
};

ControlReply Get(ControlHandlers& h, const std::string& path,
                 std::vector<std::pair<std::string, std::string>> params) {
  return RouteControlRequest(h, "GET", path, params, "");
}

TEST(ControlGroupsTest, PassesNameVersionAndTimeout) {
  GroupHandlers h;
  EXPECT_EQ(Get(h, "/v1/groups/weights", {}).status, 200);
  EXPECT_EQ(Get(h, "/v1/groups/weights", {{"after_version", "3"}, {"timeout", "1.5"}}).status, 200);
  using Asked = std::tuple<std::string, int64_t, double>;
  EXPECT_EQ(h.asked, (std::vector<Asked>{{"weights", 0, 0}, {"weights", 3, 1.5}}));
}

TEST(ControlGroupsTest, RefusesBadQueriesNamingThem) {
  GroupHandlers h;
  const std::pair<std::vector<std::pair<std::string, std::string>>, std::string> cases[] = {
      {{{"after_version", "-1"}}, "after_version: \"-1\""},
      {{{"after_version", "x"}}, "after_version: \"x\""},
      {{{"timeout", "4000"}}, "timeout: \"4000\""},
      {{{"version", "1"}}, "query parameter \"version\" is not one of"},
  };
  for (const auto& [params, expect] : cases) {
    ControlReply r = Get(h, "/v1/groups/weights", params);
    EXPECT_EQ(r.status, 400);
    const std::string message = r.body["error"]["message"].get<std::string>();
    EXPECT_NE(message.find(expect), std::string::npos) << message;
  }
  EXPECT_TRUE(h.asked.empty());
  // No name, or a path below it: no such endpoint.
  EXPECT_EQ(Get(h, "/v1/groups", {}).status, 404);
  EXPECT_EQ(Get(h, "/v1/groups/weights/x", {}).status, 404);
}

TEST(ControlGroupsTest, AServerWithoutGroupsSaysSo) {
  Handlers h;
  ControlReply r = Get(h, "/v1/groups/weights", {});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.dump().find("keeps no communication groups"), std::string::npos);
}

}  // namespace
}  // namespace berth::control
