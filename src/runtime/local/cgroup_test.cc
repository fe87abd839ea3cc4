// The run cgroup: parsing of /proc/self/mounts and /proc/self/cgroup on the
// layouts berth meets (hybrid, pure v2, v1 only), the naming and the checks
// of a recorded path, on strings; then, where this machine lets berth write
// cgroup v2 (else skipped, saying why), a real cgroup holding a process
// tree that left its session, and a ProcessSupervisor in its own cgroup.

#include "runtime/local/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "berth/process.h"
#include "runtime/local/proc_scan.h"
#include "runtime/local/supervisor_test_util.h"

namespace berth::runtime::local {
namespace {

using std::chrono::milliseconds;

// This project's machines: v1 controllers at /sys/fs/cgroup/<name>, v2 beside them.
constexpr char kHybridMounts[] =
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
constexpr char kHybridCgroup[] =
    "9:name=systemd:/\n4:memory:/process_api/4a07b7eecdc1af729d9d29563c2bec07\n1:cpu:/\n0::/\n";

TEST(CgroupParseTest, HybridLayoutHasV2BesideTheV1Controllers) {
  EXPECT_EQ(Cgroup2MountIn(kHybridMounts), "/sys/fs/cgroup/unified");
  EXPECT_EQ(OwnCgroupIn(kHybridCgroup), "/");
}

TEST(CgroupParseTest, PureV2Layout) {
  const char mounts[] =
      "sysfs /sys sysfs rw 0 0\n"
      "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n";
  EXPECT_EQ(Cgroup2MountIn(mounts), "/sys/fs/cgroup");
  EXPECT_EQ(OwnCgroupIn("0::/user.slice/user-1000.slice/session-3.scope\n"),
            "/user.slice/user-1000.slice/session-3.scope");
  EXPECT_EQ(OwnCgroupIn("0::/a/b/"), "/a/b");  // no newline at the end, a trailing slash
}

TEST(CgroupParseTest, NoV2AtAll) {
  const char mounts[] =
      "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
  EXPECT_EQ(Cgroup2MountIn(mounts), std::nullopt);
  EXPECT_EQ(Cgroup2MountIn(""), std::nullopt);
  EXPECT_EQ(OwnCgroupIn("2:cpu:/\n1:name=systemd:/x\n"), std::nullopt);
  EXPECT_EQ(OwnCgroupIn("0::\n"), std::nullopt);
  EXPECT_EQ(OwnCgroupIn(""), std::nullopt);
}

TEST(CgroupParseTest, MountPointEscapesAreDecoded) {
  // The kernel writes a space, tab, newline and backslash as \040 \011 \012 \134.
  EXPECT_EQ(Cgroup2MountIn("none /mnt/my\\040cg\\134x cgroup2 rw 0 0\n"), "/mnt/my cg\\x");
  // Not an escape: kept as it is.
  EXPECT_EQ(Cgroup2MountIn("none /mnt/a\\9 cgroup2 rw 0 0\n"), "/mnt/a\\9");
  // A v1 "cgroup2"-named device does not count; the file system type does.
  EXPECT_EQ(Cgroup2MountIn("cgroup2 /x cgroup rw 0 0\n"), std::nullopt);
}

TEST(CgroupNameTest, RoundTripsAndRefusesLookalikes) {
  const std::string name = RunCgroupName(1234, "0123456789abcdef");
  EXPECT_EQ(name, "berth-1234-0123456789abcdef");
  pid_t pid = 0;
  EXPECT_TRUE(IsRunCgroupName(name, &pid));
  EXPECT_EQ(pid, 1234);
  for (const char* bad :
       {"berth-1234-0123456789abcde", "berth-1234-0123456789abcdef0", "berth-1234-0123456789ABCDEF",
        "berth-01234-0123456789abcdef", "berth--0123456789abcdef", "berth-12a-0123456789abcdef",
        "berth-99999999999-0123456789abcdef", "berth-4294967296-0123456789abcdef",
        "xberth-1-0123456789abcdef", "berth-1-0123456789abcdeg", "system.slice", ""}) {
    EXPECT_FALSE(IsRunCgroupName(bad)) << bad;
  }
}

TEST(CgroupNameTest, RecordedPathMustBeBerthsOwn) {
  const std::string mount = "/sys/fs/cgroup/unified";
  const std::string name = "berth-42-0123456789abcdef";
  EXPECT_TRUE(CheckRunCgroupPath(mount + "/" + name, mount, 42).ok());
  EXPECT_TRUE(CheckRunCgroupPath(mount + "/user.slice/" + name, mount, 42).ok());
  const auto why = [&](const std::string& path, pid_t pid = 42) {
    Status s = CheckRunCgroupPath(path, mount, pid);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidSpec) << path;
    return s.message();
  };
  EXPECT_NE(why(name).find("not an absolute path"), std::string::npos);
  EXPECT_NE(why(mount + "/../unified/" + name).find("\"..\""), std::string::npos);
  EXPECT_NE(why(mount + "//" + name).find("empty"), std::string::npos);
  EXPECT_NE(why(mount + "/./" + name).find("\".\""), std::string::npos);
  EXPECT_NE(why("/sys/fs/cgroup/unified2/" + name).find("not under the cgroup2 mount"),
            std::string::npos);
  EXPECT_NE(why("/tmp/" + name).find("not under the cgroup2 mount"), std::string::npos);
  EXPECT_NE(why(mount).find("not under the cgroup2 mount"), std::string::npos);
  EXPECT_NE(why(mount + "/system.slice").find("not named as berth names"), std::string::npos);
  EXPECT_NE(why(mount + "/" + name + "/").find("empty"), std::string::npos);
  EXPECT_NE(why(mount + "/" + name, 43).find("made by pid 42, not by berth pid 43"),
            std::string::npos);
  EXPECT_NE(why("").find("not an absolute path"), std::string::npos);
}

// --- on this machine, where cgroup v2 can be written -------------------------

// A fresh run cgroup, or the reason the test is skipped.
Result<std::string> FreshCgroup() { return CreateRunCgroup(getpid()); }

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string CgroupOf(pid_t pid) {
  std::optional<std::string> own =
      OwnCgroupIn(supervisor_test::ReadAll("/proc/" + std::to_string(pid) + "/cgroup"));
  return own.value_or("");
}

TEST(CgroupSystemTest, KillEndsATreeThatLeftItsSession) {
  Result<std::string> dir = FreshCgroup();
  if (!dir) GTEST_SKIP() << "cgroup v2 is not writable here: " << dir.error().message();
  {
    Result<bool> is_dir = IsCgroupDir(*dir);
    EXPECT_TRUE(is_dir && *is_dir);
  }
  Result<std::string> mount = Cgroup2Mount();
  ASSERT_TRUE(mount);
  EXPECT_TRUE(CheckRunCgroupPath(*dir, *mount, getpid()).ok());
  // A child that starts a setsid'd grandchild and a double-forked one, then
  // exits: both are orphans, outside any process tree of ours.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (MoveIntoCgroup(*dir, getpid()).ok()) {
      execl("/bin/sh", "sh", "-c", "setsid sleep 1000 & (sleep 1000 &)",
            static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(supervisor_test::WaitFor([&] { return CgroupProcesses(*dir).size() == 2; },
                                       milliseconds(5000)))
      << CgroupProcesses(*dir).size();
  const std::vector<pid_t> orphans = CgroupProcesses(*dir);
  EXPECT_TRUE(CgroupPopulated(*dir));
  Result<int> killed = KillCgroup(*dir, milliseconds(5000));
  ASSERT_TRUE(killed) << killed.error().message();
  EXPECT_EQ(*killed, 2);
  EXPECT_FALSE(Exists(*dir));
  for (pid_t pid : orphans) {
    EXPECT_TRUE(supervisor_test::WaitFor([&] { return !supervisor_test::Running(pid); },
                                         milliseconds(5000)))
        << pid;
  }
  // Gone already: nothing to do, not an error.
  Result<int> again = KillCgroup(*dir, milliseconds(100));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0);
  Result<bool> still = IsCgroupDir(*dir);
  ASSERT_TRUE(still);
  EXPECT_FALSE(*still);
}

// Both ways of starting the supervisor: a fork of the caller, and the
// berth-supervisor program (berth run's, the Python module's).
class CgroupSupervisorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::string> probe = FreshCgroup();
    if (!probe) GTEST_SKIP() << "cgroup v2 is not writable here: " << probe.error().message();
    ASSERT_TRUE(KillCgroup(*probe, milliseconds(1000)));
    SupervisorOptions opts;
    opts.own_cgroup = true;
    opts.exec_path = GetParam();
    Result<std::unique_ptr<ProcessSupervisor>> sup = ProcessSupervisor::Start(opts);
    ASSERT_TRUE(sup) << sup.error().message();
    sup_ = std::move(sup).value();
    dir_ = sup_->cgroup();
    ASSERT_FALSE(dir_.empty()) << sup_->cgroup_unavailable();
    EXPECT_EQ(sup_->cgroup_unavailable(), "");
  }

  // Spawns a worker running `script`; waits until `count` processes (the
  // supervisor's included) are in the cgroup, and returns them.
  std::vector<pid_t> SpawnAndCount(const std::string& script, size_t count) {
    Result<int> pid = sup_->Spawn(
        {.id = "w", .argv = {"/bin/sh", "-c", script}, .env = supervisor_test::kPathEnv});
    EXPECT_TRUE(pid) << pid.error().message();
    EXPECT_TRUE(supervisor_test::WaitFor([&] { return CgroupProcesses(dir_).size() == count; },
                                         milliseconds(5000)))
        << CgroupProcesses(dir_).size();
    return CgroupProcesses(dir_);
  }

  std::unique_ptr<ProcessSupervisor> sup_;
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(ForkAndExec, CgroupSupervisorTest,
                         ::testing::Values("", BERTH_SUPERVISOR_PROGRAM),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.empty() ? "fork" : "exec";
                         });

TEST_P(CgroupSupervisorTest, EveryWorkerRunsInItAndANormalEndRemovesIt) {
  Result<std::string> parent = OwnCgroupDir();
  ASSERT_TRUE(parent);
  EXPECT_EQ(dir_.substr(0, dir_.rfind('/')), *parent);
  // The supervisor, the worker, its sleep and the setsid'd sleep.
  const std::vector<pid_t> procs = SpawnAndCount("setsid sleep 1000 & sleep 1000; true", 4);
  EXPECT_NE(std::find(procs.begin(), procs.end(), sup_->supervisor_pid()), procs.end());
  const std::string rel = dir_.substr(Cgroup2Mount()->size());
  for (pid_t p : procs) EXPECT_EQ(CgroupOf(p), rel) << p;
  // The supervisor tears down, leaves the cgroup and removes it.
  Status down = sup_->Shutdown(milliseconds(1000));
  EXPECT_TRUE(down.ok()) << down.message();
  EXPECT_FALSE(Exists(dir_));
  for (pid_t p : procs) EXPECT_FALSE(supervisor_test::Running(p)) << p;
}

TEST_P(CgroupSupervisorTest, AKilledSupervisorsUnmarkedOrphansAreKilledThroughIt) {
  // A grandchild without the marker, in its own session, whose parent dies
  // with the supervisor: neither the marker scan nor PDEATHSIG reach it.
  const std::vector<pid_t> procs =
      SpawnAndCount("env -u BERTH_SUPERVISOR_TOKEN setsid sleep 1000 & sleep 1000; true", 4);
  ASSERT_EQ(kill(sup_->supervisor_pid(), SIGKILL), 0);
  Result<std::optional<ExitEvent>> e = sup_->WaitExit(milliseconds(5000));
  ASSERT_FALSE(e);  // berth saw the supervisor go, and cleaned up after it
  EXPECT_FALSE(Exists(dir_));
  for (pid_t p : procs) {
    EXPECT_TRUE(
        supervisor_test::WaitFor([&] { return !supervisor_test::Running(p); }, milliseconds(5000)))
        << p;
  }
}

TEST(CgroupSystemTest, OffByDefault) {
  Result<std::unique_ptr<ProcessSupervisor>> sup = ProcessSupervisor::Start();
  ASSERT_TRUE(sup) << sup.error().message();
  EXPECT_EQ((*sup)->cgroup(), "");
  EXPECT_EQ((*sup)->cgroup_unavailable(), "");
}

}  // namespace
}  // namespace berth::runtime::local
