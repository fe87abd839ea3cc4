// The Scheduler's workers and errors as JSON text on the public API
// (include/berth/scheduler_json.h).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "berth/scheduler_json.h"

namespace berth {
namespace {

TEST(PublicSchedulerJsonTest, Workers) {
  Worker w;
  w.plan.id = "actor/1";
  w.plan.role = "actor";
  w.plan.index = 1;
  w.plan.node = "local";
  w.plan.address = "127.0.0.1";
  w.plan.gpus = {{1, Quantity::Whole(1)}};
  w.plan.ports = {{"http", 31001}};
  w.plan.env = {{"RANK", "1"}, {"ODD", std::string("\xc3")}};  // a cut UTF-8 sequence
  w.pid = 42;
  w.phase = WorkerPhase::kReady;
  Result<std::string> text = WorkersToJson({w});
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  const nlohmann::json j = nlohmann::json::parse(*text);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0]["id"], "actor/1");
  EXPECT_EQ(j[0]["ip"], "127.0.0.1");
  EXPECT_EQ(j[0]["gpus"], nlohmann::json::array({1}));
  EXPECT_EQ(j[0]["ports"]["http"], 31001);
  EXPECT_EQ(j[0]["worker_ports"], nlohmann::json::array({"31001"}));
  EXPECT_EQ(j[0]["env"]["ODD"], "\xef\xbf\xbd");  // U+FFFD, not an exception
  EXPECT_EQ(j[0]["phase"], "ready");
  EXPECT_EQ(j[0]["pid"], 42);
  EXPECT_EQ(*WorkersToJson({}), "[]");
}

TEST(PublicSchedulerJsonTest, Errors) {
  const nlohmann::json plain = nlohmann::json::parse(ErrorToJson(NotFound("no role \"x\"")));
  EXPECT_EQ(plain["code"], "not_found");
  EXPECT_EQ(plain["message"], "no role \"x\"");
  EXPECT_FALSE(plain.contains("worker"));

  WorkerFailure f;
  f.worker = "actor/0";
  f.exit_code = 3;
  f.description = "exited with code 3";
  f.log_tail = std::string("boom \xff\n");  // a worker's log may hold any bytes
  const nlohmann::json failed =
      nlohmann::json::parse(ErrorToJson(WorkerFailed("actor/0 exited"), f));
  EXPECT_EQ(failed["code"], "worker_failed");
  EXPECT_EQ(failed["worker"], "actor/0");
  EXPECT_EQ(failed["exit_code"], 3);
  EXPECT_EQ(failed["log_tail"], "boom \xef\xbf\xbd\n");
}

TEST(PublicSchedulerJsonTest, CommGroups) {
  CommGroup g{"weights", 3, "10.0.0.1", 31000, {"actor/0", "rollout/0"}};
  Result<std::string> text = CommGroupsToJson({g});
  ASSERT_TRUE(text) << text.error().ToString();
  const nlohmann::json j = nlohmann::json::parse(*text);
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0]["name"], "weights");
  EXPECT_EQ(j[0]["version"], 3);
  EXPECT_EQ(j[0]["world_size"], 2);
  EXPECT_EQ(j[0]["master_port"], 31000);
  EXPECT_EQ(j[0]["members"][1], "rollout/0");
  EXPECT_EQ(*CommGroupsToJson({}), "[]");
}

}  // namespace
}  // namespace berth
