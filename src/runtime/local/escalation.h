#pragma once
// The timing policy of one termination in the supervisor process: when it
// rescans for processes to signal, when SIGTERM turns into SIGKILL, when it
// gives up on survivors. Kept apart from the processes it acts on, and told
// the time rather than reading it, so that it is tested with made-up times
// (escalation_test.cc); supervisor_teardown.cc does the scanning and
// signalling it asks for.
//
// A termination does not rescan /proc on every reaped child (that was a scan
// per exiting process). It scans fully (reading the markers of processes
// outside the supervisor's subtree) when it starts, at most once a second
// while it runs, and once more before it declares success; in between it
// waits for SIGCHLD and rescans only the subtree, for newcomers to signal and
// stragglers, with a backoff while something still lives: 10, 20, 40, ... ms,
// at most kMaxRescan apart.

#include <chrono>
#include <functional>

namespace berth::runtime::local {

inline constexpr std::chrono::milliseconds kFirstRescan{10};
inline constexpr std::chrono::milliseconds kMaxRescan{250};
// How often processes outside the subtree are checked for the marker while
// a termination lasts (they exist only if something escaped the subreaper,
// e.g. through another daemon).
inline constexpr std::chrono::milliseconds kFullScanEvery{1000};

class Escalation {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using milliseconds = std::chrono::milliseconds;

  Escalation() = default;
  // A termination that starts at `now` with a full scan: SIGTERM, SIGKILL at
  // now + grace (at once for a grace of 0), survivors reported at
  // kill_timeout after that.
  Escalation(TimePoint now, milliseconds grace, milliseconds kill_timeout);

  // What a loop turn does for this termination.
  struct Turn {
    bool scan = false;  // scan and signal now
    bool full = false;  // the scan reads markers outside the subtree too
  };
  // `reaped`: a child was reaped in this turn. `looks_done`: the cheap check
  // that the workers are reaped and what the last scan found is gone; asked
  // only when its answer matters. Moves to SIGKILL when the grace is over.
  Turn Plan(TimePoint now, bool reaped, const std::function<bool()>& looks_done);

  enum class Verdict {
    kGoOn,    // keep waiting (a scan found nothing: a full one confirms next turn)
    kDone,    // a full scan found nothing and the workers are reaped
    kGiveUp,  // processes outlived SIGKILL by kill_timeout
  };
  // After a scan done at `now` (the first one, or one that Plan asked for).
  // `empty`: it found nothing and every worker is reaped.
  Verdict AfterScan(TimePoint now, bool empty, bool full);

  // SIGKILL rather than SIGTERM.
  bool killing() const { return killing_; }
  // When the supervisor's loop must wake for this termination at the latest.
  TimePoint NextWake() const;

 private:
  TimePoint kill_at_;
  TimePoint give_up_at_;
  TimePoint next_scan_;
  TimePoint last_scan_;
  TimePoint next_full_scan_;
  milliseconds backoff_ = kFirstRescan;
  bool killing_ = false;
};

}  // namespace berth::runtime::local
