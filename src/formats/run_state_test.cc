#include "formats/run_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace berth::formats {
namespace {

// A running experiment "demo" in `run_dir`.
RunState Demo(const std::string& run_dir, int berth_pid = -1) {
  RunState s;
  s.experiment = "demo";
  s.run_dir = run_dir;
  s.berth_pid = berth_pid;
  s.phase = "running";
  return s;
}

TEST(RunStateTest, WritesAtomicallyAndReadsBack) {
  std::string dir = ::testing::TempDir() + "run_state_test_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  RunState s = Demo(dir, 42);
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

// A link planted at state.json or at the temporary file (its name has this
// process's pid, known here) is refused by name; its target stays as it was.
TEST(RunStateTest, APlantedLinkIsRefusedAndNothingIsWrittenThroughIt) {
  const std::string base = ::testing::TempDir() + "run_state_link_" + std::to_string(getpid());
  const std::string dir = base + "/run";
  const std::string target = base + "/precious";
  for (const std::string& name :
       {"state.json.tmp." + std::to_string(getpid()), std::string("state.json")}) {
    SCOPED_TRACE(name);
    std::filesystem::remove_all(base);
    std::filesystem::create_directories(dir);
    { std::ofstream(target) << "precious\n"; }
    std::filesystem::create_symlink(target, dir + "/" + name);
    RunState s = Demo(dir, 42);
    Status st = WriteState(s);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), ErrorCode::kInvalidSpec);
    EXPECT_EQ(
        st.message().rfind(dir + "/" + name + ": is a symbolic link (to '" + target + "')", 0), 0U)
        << st.message();
    std::ifstream in(target);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content, "precious\n");
    // The link stays for the user to see; no temporary file of ours is left.
    EXPECT_TRUE(std::filesystem::is_symlink(dir + "/" + name));
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                            std::filesystem::directory_iterator()),
              1);
  }
  std::filesystem::remove_all(base);
}

TEST(RunStateTest, MissingOrForeignFileIsAClearError) {
  auto missing = ReadState("/nonexistent/run");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent/run/state.json"), std::string::npos);
}

TEST(RunStateTest, TableHasOneRowPerWorker) {
  RunState s = Demo("/r");
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
  EXPECT_EQ(RenderRoleHealth(s),
            "roles:\n  actor: ok (1 of 1 ready)\n  ref: failed (0 of 1 ready)\n");
}

TEST(RunStateTest, RoleHealthAfterRestartsAndDrops) {
  RunState s = Demo("/r");
  auto add = [&](const std::string& id, WorkerState st, int restarts) {
    WorkerRecord w;
    w.id = id;
    w.role = id.substr(0, id.find('/'));
    w.state = st;
    w.restarts = restarts;
    s.workers.push_back(w);
  };
  add("rollout/0", WorkerState::kReady, 0);
  add("rollout/1", WorkerState::kStarting, 2);
  add("eval/0", WorkerState::kExited, 0);
  add("train/0", WorkerState::kStarting, 0);
  EXPECT_EQ(RenderRoleHealth(s),
            "roles:\n  rollout: degraded (1 of 2 ready, 2 restart(s))\n  eval: done (0 of 1 "
            "ready)\n  train: starting (0 of 1 ready)\n");
  EXPECT_EQ(RenderRoleHealth(RunState{}), "");
}

TEST(RunStateTest, JsonRoundTripsAsTheControlApiServesIt) {
  RunState s;
  s.experiment = "demo";
  s.run_dir = "/tmp/x";
  s.berth_pid = 42;
  s.phase = "running";
  s.cgroup = "/sys/fs/cgroup/berth/run-42";
  s.slurm_job = "17";
  s.further_slurm_jobs = {{"18", "further-1"}, {"20", "further-2"}};
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
  // A local run without a cgroup writes neither field.
  s.cgroup.clear();
  s.slurm_job.clear();
  s.further_slurm_jobs.clear();
  EXPECT_FALSE(RunStateToJson(s, PortShape::kList).contains("cgroup"));
  EXPECT_FALSE(RunStateToJson(s, PortShape::kList).contains("further_slurm_jobs"));
  EXPECT_FALSE(RunStateFromJson(nlohmann::json::parse("{\"experiment\": 1}"), "status"));
}

}  // namespace
}  // namespace berth::formats
