// GET /v1/events: its query, checked before the handler is asked.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "control/control_server.h"
#include "control/control_test_util.h"

namespace berth::control {
namespace {

class EventsHandlers : public StubHandlers {
 public:
  ControlReply GetEvents(int64_t after, double timeout_s) override {
    asked.emplace_back(after, timeout_s);
    return {};
  }
  std::vector<std::pair<int64_t, double>> asked;
};

ControlReply Get(ControlHandlers& h, std::vector<std::pair<std::string, std::string>> params) {
  return RouteControlRequest(h, "GET", "/v1/events", params, "");
}

TEST(ControlEventsTest, PassesAfterAndTimeout) {
  EventsHandlers h;
  EXPECT_EQ(Get(h, {}).status, 200);
  EXPECT_EQ(Get(h, {{"after", "12"}, {"timeout", "2.5"}}).status, 200);
  EXPECT_EQ(h.asked, (std::vector<std::pair<int64_t, double>>{{0, 0}, {12, 2.5}}));
}

TEST(ControlEventsTest, RefusesBadQueriesNamingThem) {
  EventsHandlers h;
  struct Case {
    std::vector<std::pair<std::string, std::string>> params;
    std::string expect;
  };
  const Case cases[] = {
      {{{"after", "-1"}}, "after: \"-1\" is not a whole number from 0 to"},
      {{{"after", "1.5"}}, "after: \"1.5\" is not a whole number"},
      {{{"after", "x"}}, "after: \"x\""},
      {{{"timeout", "nan"}}, "timeout: \"nan\" is not a number from 0 to 3600"},
      {{{"timeout", "4000"}}, "timeout: \"4000\""},
      {{{"since", "1"}},
       "query parameter \"since\" is not one of GET /v1/events's (allowed: "
       "after, timeout)"},
  };
  for (const Case& c : cases) {
    ControlReply r = Get(h, c.params);
    EXPECT_EQ(r.status, 400);
    const std::string body = r.body["error"]["message"].get<std::string>();
    EXPECT_NE(body.find(c.expect), std::string::npos) << body;
  }
  EXPECT_TRUE(h.asked.empty());
}

TEST(ControlEventsTest, AServerWithoutEventsSaysSo) {
  class NoEvents : public EventsHandlers {
   public:
    ControlReply GetEvents(int64_t a, double t) override {
      return ControlHandlers::GetEvents(a, t);
    }
  } h;
  ControlReply r = Get(h, {});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.dump().find("keeps no events"), std::string::npos);
}

}  // namespace
}  // namespace berth::control
