// Process supervisor: starting one worker (Spawn) - its exit report, its exact
// environment, argv and directory, and the errors for programs that cannot
// run and for bad specs.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local::supervisor_test {
namespace {

TEST_F(SupervisorTest, ExitIsReportedPromptly) {
  auto start = Clock::now();
  MustSpawn({.id = "quick", .argv = {"sleep", "0.2"}, .env = kPathEnv});
  EXPECT_TRUE(sup_->alive("quick"));
  ExitEvent e = MustExit();
  EXPECT_EQ(e.description, "exited with code 0");
  EXPECT_TRUE(e.success());
  EXPECT_LT(ElapsedMs(start), 1000);
}

TEST_F(SupervisorTest, EnvironmentAndArgvAreByteExact) {
  const std::vector<std::pair<std::string, std::string>> env = {{"A", ",=\"' \n"},
                                                                {"B", "x=y=z"},
                                                                {"EMPTY", ""},
                                                                {"Z", "\t$HOME `x` \\ ü"},
                                                                {"PATH", "/bin"}};
  MustSpawn({.id = "env", .argv = {"/usr/bin/env", "-0"}, .env = env, .log_path = Log("env")});
  EXPECT_EQ(MustExit().exit_code, 0);
  std::vector<std::string> got;
  std::string text = ReadAll(Log("env"));
  for (size_t pos = 0; pos < text.size();) {
    size_t nul = text.find('\0', pos);
    if (nul == std::string::npos) nul = text.size();
    got.push_back(text.substr(pos, nul - pos));
    pos = nul + 1;
  }
  std::vector<std::string> want;
  for (const auto& [k, v] : env) want.push_back(k + "=" + v);
  want.push_back("BERTH_SUPERVISOR_TOKEN=" + sup_->token() + "/env");
  EXPECT_EQ(got, want);

  MustSpawn({.id = "argv",
             .argv = {"/usr/bin/printf", "%s|", "a b", "c,d", "e\"f'g", "", "h\ni", "$X"},
             .log_path = Log("argv")});
  EXPECT_EQ(MustExit().exit_code, 0);
  EXPECT_EQ(ReadAll(Log("argv")), "a b|c,d|e\"f'g||h\ni|$X|");
}

TEST_F(SupervisorTest, RunsInTheGivenDirectoryWithItsOwnProcessGroup) {
  std::filesystem::create_directories(dir_ + "/work");
  LaunchSpec spec = Sh("cwd", "pwd; echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$");
  spec.cwd = dir_ + "/work";
  MustSpawn(spec);
  ExitEvent e = MustExit();
  EXPECT_EQ(ReadAll(Log("cwd")),
            dir_ + "/work\npgid=" + std::to_string(e.pid) + " pid=" + std::to_string(e.pid) + "\n");
}

TEST_F(SupervisorTest, MissingProgramIsAnErrorNamingIt) {
  auto r = sup_->Spawn({.id = "missing", .argv = {"/nonexistent/berth-prog", "x"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_EQ(r.error().message(),
            "worker 'missing': cannot execute '/nonexistent/berth-prog': No such file or "
            "directory (ENOENT)");

  r = sup_->Spawn({.id = "missing2", .argv = {"berth-no-such-program"}, .env = kPathEnv});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'missing2': cannot execute 'berth-no-such-program': not found in "
            "PATH=/usr/bin:/bin: No such file or directory (ENOENT)");

  r = sup_->Spawn({.id = "noexec", .argv = {dir_}});  // a directory
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'noexec': cannot execute '" + dir_ + "': Permission denied (EACCES)");

  r = sup_->Spawn({.id = "nodir", .argv = {"/bin/true"}, .cwd = "/nonexistent/dir"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "worker 'nodir': cannot chdir to '/nonexistent/dir': No such file or directory "
            "(ENOENT)");

  EXPECT_EQ(sup_->pid("missing"), -1);
  EXPECT_TRUE(sup_->PollExits().empty());
  // A failed id is free for a later, correct spawn.
  MustSpawn({.id = "missing", .argv = {"/bin/true"}});
  EXPECT_EQ(MustExit().exit_code, 0);
}

TEST_F(SupervisorTest, RejectsBadSpecs) {
  struct Case {
    std::string name;
    LaunchSpec spec;
  };
  const std::vector<Case> cases = {
      {"empty id", {.id = "", .argv = {"/bin/true"}}},
      {"space in id", {.id = "a b", .argv = {"/bin/true"}}},
      {"empty argv", {.id = "a", .argv = {}}},
      {"empty program", {.id = "a", .argv = {""}}},
      {"NUL in argv", {.id = "a", .argv = {"/bin/true", std::string("x\0y", 3)}}},
      {"'=' in key", {.id = "a", .argv = {"/bin/true"}, .env = {{"A=B", "c"}}}},
      {"empty key", {.id = "a", .argv = {"/bin/true"}, .env = {{"", "c"}}}},
      {"repeated key", {.id = "a", .argv = {"/bin/true"}, .env = {{"A", "1"}, {"A", "2"}}}},
      {"token key", {.id = "a", .argv = {"/bin/true"}, .env = {{"BERTH_SUPERVISOR_TOKEN", "x"}}}},
      {"NUL in value", {.id = "a", .argv = {"/bin/true"}, .env = {{"A", std::string("\0", 1)}}}},
  };
  for (const Case& c : cases) {
    auto r = sup_->Spawn(c.spec);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec) << c.name << ": " << r.error().message();
  }
  EXPECT_EQ(
      sup_->Spawn({.id = "a", .argv = {"/bin/true"}, .env = {{"A=B", "c"}}}).error().message(),
      "worker 'a': environment key 'A=B' is empty or holds '=' or NUL");

  MustSpawn({.id = "dup", .argv = {"/bin/true"}});
  auto r = sup_->Spawn({.id = "dup", .argv = {"/bin/true"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
  EXPECT_EQ(r.error().message(), "worker id 'dup' is already in use");

  Status s = sup_->Terminate("nope", milliseconds(100));
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "no worker 'nope'");
}

}  // namespace
}  // namespace berth::runtime::local::supervisor_test
