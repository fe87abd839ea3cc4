// Running a Slurm client command: what it printed and its exit code come
// back; one that prints without end is killed at the output limit with an
// error naming it and the limit, never read into memory whole; one that
// hangs is killed at its deadline.

#include "runtime/slurm/command.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace berth::runtime::slurm {
namespace {

using std::chrono::milliseconds;

TEST(SlurmCommandTest, OutputAndExitCodeComeBack) {
  Result<CommandResult> r =
      RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, milliseconds(10000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(SlurmCommandTest, OutputBeyondTheLimitIsAnErrorNamingTheCommandAndTheLimit) {
  // An endless stream: without the limit this would fill the memory.
  Result<CommandResult> r =
      RunCommand({"/bin/sh", "-c", "exec cat /dev/zero"}, milliseconds(60000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kBackend);
  EXPECT_NE(r.error().message().find("/bin/sh -c exec cat /dev/zero"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("more than 16 MiB"), std::string::npos) << r.error().message();
  // The same on stderr.
  r = RunCommand({"/bin/sh", "-c", "exec cat /dev/zero >&2"}, milliseconds(60000));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("more than 16 MiB"), std::string::npos);
}

TEST(SlurmCommandTest, AHangingCommandIsKilledAtItsDeadline) {
  const auto start = std::chrono::steady_clock::now();
  Result<CommandResult> r = RunCommand({"/bin/sleep", "30"}, milliseconds(200));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 124);
  EXPECT_NE(r->err.find("no answer within 200 ms"), std::string::npos) << r->err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace berth::runtime::slurm
