// Process supervisor: starting workers in batches (SpawnMany) - all in order,
// or, when one spec fails or is refused, none of them (the batch is rolled
// back).

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

TEST_F(SupervisorTest, SpawnManyStartsAllInOrder) {
  const std::string merged = dir_ + "/merged.log";
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 40; ++i) {
    LaunchSpec spec =
        Sh("b/" + std::to_string(i), "echo up $BERTH_SUPERVISOR_TOKEN; exec sleep 100");
    spec.merged_log_path = merged;
    specs.push_back(spec);
  }
  auto pids = sup_->SpawnMany(specs);
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  ASSERT_EQ(pids->size(), specs.size());
  std::set<int> distinct(pids->begin(), pids->end());
  EXPECT_EQ(distinct.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const int pid = (*pids)[i];
    EXPECT_EQ(sup_->pid(specs[i].id), pid) << specs[i].id;
    EXPECT_TRUE(sup_->alive(specs[i].id)) << specs[i].id;
    auto p = runtime::local::ReadProc(pid);
    ASSERT_TRUE(p.has_value()) << specs[i].id;
    EXPECT_EQ(p->pgid, pid) << specs[i].id;  // its own process group
    EXPECT_EQ(p->ppid, sup_->supervisor_pid()) << specs[i].id;
    EXPECT_TRUE(
        LogHas(specs[i].id, "up " + sup_->token() + "/" + specs[i].id + "\n", milliseconds(5000)))
        << specs[i].id;
  }
  // Every worker's line reached the merged log whole, prefixed with its id.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string text = ReadAll(merged);
        return std::count(text.begin(), text.end(), '\n') >= 40;
      },
      milliseconds(5000)));
  const std::string text = ReadAll(merged);
  for (const LaunchSpec& spec : specs) {
    EXPECT_NE(text.find("[" + spec.id + "] up " + sup_->token() + "/" + spec.id + "\n"),
              std::string::npos)
        << spec.id;
  }
  auto start = Clock::now();
  Status s = sup_->TerminateAll(milliseconds(10000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ElapsedMs(start), 3000);  // SIGCHLD, not the grace period
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
  EXPECT_EQ(sup_->PollExits().size(), specs.size());
}

TEST_F(SupervisorTest, SpawnManyOfNothingStartsNothing) {
  auto pids = sup_->SpawnMany({});
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  EXPECT_TRUE(pids->empty());
}

TEST_F(SupervisorTest, SpawnManyWithAFailingSpecRollsBackTheBatch) {
  // The good workers start trees that leave their session, so that rolling
  // back has grandchildren to find; the bad one comes late in the batch.
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 30; ++i) {
    specs.push_back(Sh("r/" + std::to_string(i), "setsid sleep 1000 & (sleep 1000 &); sleep 1000"));
  }
  specs[25] = {.id = "r/25", .argv = {"/nonexistent/berth-prog"}, .log_path = Log("r/25")};
  auto r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(r.error().message(),
            "worker 'r/25': cannot execute '/nonexistent/berth-prog': No such file or directory "
            "(ENOENT) (the batch of 30 workers was rolled back: none of them runs)");
  // Already gone when the call returns: nothing of the batch runs.
  std::vector<ProcInfo> left = AllMarked(sup_->token());
  EXPECT_TRUE(left.empty()) << left.size() << " left, e.g. pid " << left[0].pid;
  for (const LaunchSpec& spec : specs) EXPECT_EQ(sup_->pid(spec.id), -1) << spec.id;
  EXPECT_FALSE(sup_->alive("r/0"));
  EXPECT_EQ(sup_->Terminate("r/0", milliseconds(100)).code(), ErrorCode::kNotFound);
  // No exit events for workers that never officially started: a sentinel
  // started after the rollback exits, and its event is the only one (the
  // supervisor reports in order, so any of the batch's would come first).
  ASSERT_TRUE(sup_->Spawn(Sh("sentinel", "exit 0")).has_value());
  std::vector<ExitEvent> events;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (ExitEvent& e : sup_->PollExits()) events.push_back(std::move(e));
        return !events.empty() && events.back().id == "sentinel";
      },
      milliseconds(5000)));
  ASSERT_EQ(events.size(), 1u) << events[0].id;

  // The ids are free again.
  specs[25] = Sh("r/25", "sleep 1000");
  auto pids = sup_->SpawnMany(specs);
  ASSERT_TRUE(pids.has_value()) << pids.error().ToString();
  EXPECT_EQ(pids->size(), 30u);
  EXPECT_TRUE(sup_->TerminateAll(milliseconds(2000)).ok());
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
}

TEST_F(SupervisorTest, SpawnManyReportsTheFirstFailureInSpecOrder) {
  std::vector<LaunchSpec> specs = {
      {.id = "f/0", .argv = {"/bin/true"}},
      {.id = "f/1", .argv = {"/bin/true"}, .cwd = "/nonexistent/dir"},
      {.id = "f/2", .argv = {"/nonexistent/berth-prog"}},
  };
  auto r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'f/1': cannot chdir to '/nonexistent/dir': No such file or directory (ENOENT) "
            "(the batch of 3 workers was rolled back: none of them runs)");
  // A log file that cannot be opened fails the batch before its fork.
  std::filesystem::create_directories(dir_ + "/file");
  std::ofstream(dir_ + "/file/x") << "x";
  specs = {{.id = "g/0", .argv = {"sleep", "100"}, .env = kPathEnv},
           {.id = "g/1", .argv = {"/bin/true"}, .log_path = dir_ + "/file/x/log"}};
  r = sup_->SpawnMany(specs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_TRUE(r.error().message().starts_with("worker 'g/1': log file '" + dir_ + "/file/x/log'"))
      << r.error().message();
  EXPECT_TRUE(AllMarked(sup_->token()).empty());
  EXPECT_TRUE(sup_->PollExits().empty());
}

TEST_F(SupervisorTest, SpawnManyRefusesDuplicateAndBadSpecsBeforeStartingAny) {
  auto r = sup_->SpawnMany({{.id = "d/0", .argv = {"sleep", "100"}, .env = kPathEnv},
                            {.id = "d/1", .argv = {"sleep", "100"}, .env = kPathEnv},
                            {.id = "d/0", .argv = {"sleep", "100"}, .env = kPathEnv}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'd/0' appears twice in the batch");

  r = sup_->SpawnMany(
      {{.id = "e/0", .argv = {"sleep", "100"}, .env = kPathEnv}, {.id = "e/1", .argv = {}}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker 'e/1': argv is empty; give the program");

  MustSpawn({.id = "taken", .argv = {"sleep", "100"}, .env = kPathEnv});
  r = sup_->SpawnMany({{.id = "t/0", .argv = {"sleep", "100"}, .env = kPathEnv},
                       {.id = "taken", .argv = {"sleep", "100"}, .env = kPathEnv}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'taken' is already in use");

  for (const char* id : {"d/0", "d/1", "e/0", "t/0"}) EXPECT_EQ(sup_->pid(id), -1) << id;
  std::vector<ProcInfo> marked = AllMarked(sup_->token());
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(marked[0].pid, sup_->pid("taken"));
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
