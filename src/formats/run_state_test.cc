#include "formats/run_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace berth::formats {
namespace {

TEST(RunStateTest, WritesAtomicallyAndReadsBack) {
  std::string dir = ::testing::TempDir() + "run_state_test_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  RunState s{.experiment = "demo", .run_dir = dir, .berth_pid = 42, .phase = "running"};
  s.workers.push_back({.id = "actor/0",
                       .role = "actor",
                       .index = 0,
                       .node = "local",
                       .gpus = "0,1",
                       .ports = {{"http", 31000}},
                       .pid = 1234,
                       .state = WorkerState::kReady,
                       .log = dir + "/logs/actor/0.log"});
  ASSERT_TRUE(WriteState(s).ok());
  auto back = ReadState(dir);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, s);
  // No temporary file is left next to it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(RunStateTest, MissingOrForeignFileIsAClearError) {
  auto missing = ReadState("/nonexistent/run");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent/run/state.json"), std::string::npos);
}

TEST(RunStateTest, TableHasOneRowPerWorker) {
  RunState s{.experiment = "demo", .run_dir = "/r", .phase = "running"};
  s.workers.push_back({.id = "actor/0",
                       .role = "actor",
                       .node = "local",
                       .gpus = "0",
                       .ports = {{"http", 31000}, {"master", 31001}},
                       .pid = 7,
                       .state = WorkerState::kReady});
  s.workers.push_back({.id = "ref/0",
                       .role = "ref",
                       .node = "local",
                       .state = WorkerState::kFailed,
                       .exit = "exited with code 3"});
  EXPECT_EQ(
      RenderTable(s),
      "ROLE   ID       NODE   GPUS  PID  PORTS                    STATE                        "
      "RESTARTS\n"
      "actor  actor/0  local  0     7    http=31000,master=31001  ready                        0\n"
      "ref    ref/0    local  -     -    -                        failed (exited with code 3)  "
      "0\n");
}

TEST(RunStateTest, JsonRoundTripsAsTheControlApiServesIt) {
  RunState s;
  s.experiment = "demo";
  s.run_dir = "/tmp/x";
  s.berth_pid = 42;
  s.phase = "running";
  WorkerRecord w;
  w.id = "actor/0";
  w.role = "actor";
  w.node = "local";
  w.gpus = "0,1";
  w.ports = {{"http", 31001}, {"master", 31002}};
  w.pid = 100;
  w.state = WorkerState::kReady;
  w.log = "/tmp/x/logs/actor.0.log";
  s.workers.push_back(w);
  nlohmann::ordered_json j = RunStateToJson(s, PortShape::kMap);
  EXPECT_EQ(j["workers"][0]["ports"]["http"], 31001);
  EXPECT_EQ(j["workers"][0]["state"], "ready");
  Result<RunState> back = RunStateFromJson(nlohmann::json::parse(j.dump()), "status");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(RunStateFromJson(nlohmann::json::parse("{\"experiment\": 1}"), "status"));
}

}  // namespace
}  // namespace berth::formats
