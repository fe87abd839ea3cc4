// The supervisor's termination policy with made-up times: when it rescans,
// when SIGTERM becomes SIGKILL, when it gives up. No process, no waiting.

#include "runtime/local/escalation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace berth::runtime::local {
namespace {

using std::chrono::milliseconds;
using TimePoint = Escalation::TimePoint;

const TimePoint kStart = TimePoint() + std::chrono::hours(1);

milliseconds Since(TimePoint t) { return std::chrono::duration_cast<milliseconds>(t - kStart); }

// Drives a termination whose processes never go, waking only when the policy
// asks to, until it gives up. Records when it scanned (and how fully) and
// when it started to kill.
struct Trace {
  std::vector<milliseconds> scans;
  std::vector<milliseconds> full_scans;
  milliseconds killing_from{-1};
  milliseconds gave_up{-1};
};

Trace Stubborn(milliseconds grace, milliseconds kill_timeout) {
  Trace t;
  Escalation e(kStart, grace, kill_timeout);
  EXPECT_EQ(e.AfterScan(kStart, /*empty=*/false, /*full=*/true), Escalation::Verdict::kGoOn);
  for (int turn = 0; turn < 10000; ++turn) {
    const TimePoint now = e.NextWake();
    const Escalation::Turn plan = e.Plan(now, /*reaped=*/false, [] { return false; });
    if (e.killing() && t.killing_from.count() < 0) t.killing_from = Since(now);
    if (!plan.scan) continue;
    t.scans.push_back(Since(now));
    if (plan.full) t.full_scans.push_back(Since(now));
    if (e.AfterScan(now, /*empty=*/false, plan.full) == Escalation::Verdict::kGiveUp) {
      t.gave_up = Since(now);
      return t;
    }
  }
  ADD_FAILURE() << "never gave up";
  return t;
}

TEST(EscalationTest, RescansBackOffWhileProcessesLiveAndKillAtGrace) {
  const Trace t = Stubborn(milliseconds(1000), milliseconds(5000));
  ASSERT_GE(t.scans.size(), 7U);
  // 10, 20, 40, 80, 160, then at most 250 ms apart.
  std::vector<milliseconds> gaps;
  for (size_t i = 1; i < 7; ++i) gaps.push_back(t.scans[i] - t.scans[i - 1]);
  EXPECT_EQ(t.scans[0], milliseconds(10));
  EXPECT_EQ(gaps,
            (std::vector<milliseconds>{milliseconds(20), milliseconds(40), milliseconds(80),
                                       milliseconds(160), milliseconds(250), milliseconds(250)}));
  // SIGKILL exactly at the end of the grace, with a scan then; and the
  // backoff starts again at 10 ms.
  EXPECT_EQ(t.killing_from, milliseconds(1000));
  auto at_kill = std::find(t.scans.begin(), t.scans.end(), milliseconds(1000));
  ASSERT_NE(at_kill, t.scans.end());
  ASSERT_NE(at_kill + 1, t.scans.end());
  EXPECT_EQ(*(at_kill + 1) - *at_kill, milliseconds(10));
  // Survivors are reported at grace + kill_timeout, not before.
  EXPECT_EQ(t.gave_up, milliseconds(6000));
  for (size_t i = 1; i < t.scans.size(); ++i) {
    EXPECT_LE(t.scans[i] - t.scans[i - 1], milliseconds(250)) << "scan " << i;
  }
}

TEST(EscalationTest, FullScansAtMostOnceASecondWhileItLasts) {
  const Trace t = Stubborn(milliseconds(3000), milliseconds(2000));
  ASSERT_GE(t.full_scans.size(), 4U);
  for (size_t i = 1; i < t.full_scans.size(); ++i) {
    EXPECT_GE(t.full_scans[i] - t.full_scans[i - 1], milliseconds(1000)) << i;
    EXPECT_LE(t.full_scans[i] - t.full_scans[i - 1], milliseconds(1250)) << i;
  }
  EXPECT_LT(t.full_scans.size(), t.scans.size() / 4);
}

TEST(EscalationTest, NoGraceKillsFromTheStart) {
  Escalation e(kStart, milliseconds(0), milliseconds(100));
  EXPECT_TRUE(e.killing());
  EXPECT_EQ(e.NextWake(), kStart + milliseconds(10));
  const Trace t = Stubborn(milliseconds(0), milliseconds(100));
  EXPECT_EQ(t.gave_up, milliseconds(100));
}

TEST(EscalationTest, ReapsPostponeTheRescanButNotBeyondTheLongestGap) {
  Escalation e(kStart, milliseconds(5000), milliseconds(5000));
  ASSERT_EQ(e.AfterScan(kStart, false, true), Escalation::Verdict::kGoOn);
  // A child is reaped every 5 ms: processes are going, no rescan yet...
  TimePoint now = kStart;
  int asked = 0;
  for (int i = 1; i * 5 < 250; ++i) {
    now = kStart + milliseconds(5 * i);
    const Escalation::Turn turn = e.Plan(now, /*reaped=*/true, [&] {
      ++asked;
      return false;
    });
    EXPECT_FALSE(turn.scan) << Since(now).count() << " ms";
  }
  // ...each reap asked the cheap check, never a scan...
  EXPECT_GT(asked, 40);
  // ...until 250 ms after the last scan.
  EXPECT_TRUE(e.Plan(kStart + milliseconds(250), true, [] { return false; }).scan);
}

TEST(EscalationTest, QuietAfterAReapIsConfirmedByOneFullScan) {
  Escalation e(kStart, milliseconds(5000), milliseconds(5000));
  ASSERT_EQ(e.AfterScan(kStart, false, true), Escalation::Verdict::kGoOn);
  // The last process was reaped and the cheap check says everything is gone.
  const TimePoint now = kStart + milliseconds(3);
  const Escalation::Turn turn = e.Plan(now, /*reaped=*/true, [] { return true; });
  EXPECT_TRUE(turn.scan);
  EXPECT_TRUE(turn.full);
  EXPECT_EQ(e.AfterScan(now, /*empty=*/true, /*full=*/true), Escalation::Verdict::kDone);
}

TEST(EscalationTest, AnEmptyPartialScanIsConfirmedOnTheNextTurn) {
  Escalation e(kStart, milliseconds(5000), milliseconds(5000));
  ASSERT_EQ(e.AfterScan(kStart, false, true), Escalation::Verdict::kGoOn);
  const TimePoint t1 = kStart + milliseconds(10);
  Escalation::Turn turn = e.Plan(t1, false, [] { return false; });
  ASSERT_TRUE(turn.scan);
  ASSERT_FALSE(turn.full);
  EXPECT_EQ(e.AfterScan(t1, /*empty=*/true, /*full=*/false), Escalation::Verdict::kGoOn);
  // Due at once, and full because it now looks done.
  EXPECT_EQ(e.NextWake(), t1);
  turn = e.Plan(t1, false, [] { return true; });
  EXPECT_TRUE(turn.scan);
  EXPECT_TRUE(turn.full);
  EXPECT_EQ(e.AfterScan(t1, true, true), Escalation::Verdict::kDone);
}

TEST(EscalationTest, DoneBeforeTheGraceEndsNeverKills) {
  Escalation e(kStart, milliseconds(2000), milliseconds(1000));
  EXPECT_EQ(e.AfterScan(kStart, /*empty=*/true, /*full=*/true), Escalation::Verdict::kDone);
  EXPECT_FALSE(e.killing());
}

TEST(EscalationTest, WakesForTheKillThenForTheGiveUp) {
  Escalation e(kStart, milliseconds(30), milliseconds(1000));
  ASSERT_EQ(e.AfterScan(kStart, false, true), Escalation::Verdict::kGoOn);
  // Before the kill the next wake is the earlier of the rescan and the kill.
  EXPECT_EQ(e.NextWake(), kStart + milliseconds(10));
  ASSERT_TRUE(e.Plan(kStart + milliseconds(10), false, [] { return false; }).scan);
  ASSERT_EQ(e.AfterScan(kStart + milliseconds(10), false, false), Escalation::Verdict::kGoOn);
  EXPECT_EQ(e.NextWake(), kStart + milliseconds(30));  // rescan at 30 and the kill at 30
  ASSERT_TRUE(e.Plan(kStart + milliseconds(30), false, [] { return false; }).scan);
  EXPECT_TRUE(e.killing());
}

}  // namespace
}  // namespace berth::runtime::local
