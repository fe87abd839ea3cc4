#include "runtime/local/escalation.h"

#include <algorithm>

namespace berth::runtime::local {

Escalation::Escalation(TimePoint now, milliseconds grace, milliseconds kill_timeout)
    : kill_at_(now + grace),
      give_up_at_(kill_at_ + kill_timeout),
      next_scan_(now + kFirstRescan),
      last_scan_(now),
      next_full_scan_(now + kFullScanEvery),
      killing_(grace.count() == 0) {}

Escalation::Turn Escalation::Plan(TimePoint now, bool reaped,
                                  const std::function<bool()>& looks_done) {
  const bool to_kill = !killing_ && now >= kill_at_;
  if (reaped) {
    // Processes are going: no rescan while they do (a scan competes with them
    // for the CPU, and each would see a table in flux), but at least every
    // kMaxRescan.
    next_scan_ = std::min(std::max(next_scan_, now + backoff_), last_scan_ + kMaxRescan);
  }
  const bool due = now >= next_scan_ || (killing_ && now >= give_up_at_);
  // Cheap checks first: most turns of a termination are exits of the
  // processes it signalled, which need no scan.
  const bool quiet = (reaped || due || to_kill) && looks_done();
  if (!to_kill && !due && !quiet) return {};
  if (to_kill) {
    killing_ = true;
    backoff_ = kFirstRescan;
  }
  // Quiet: the full scan that confirms that nothing is left (or finds
  // newcomers and escapees). Otherwise a scan of the subtree, and now and
  // then a full one.
  const bool full = quiet || now >= next_full_scan_;
  if (full) next_full_scan_ = now + kFullScanEvery;
  return {true, full};
}

Escalation::Verdict Escalation::AfterScan(TimePoint now, bool empty, bool full) {
  last_scan_ = now;
  if (empty) {
    if (full) return Verdict::kDone;
    next_scan_ = now;  // looks empty: confirm with a full scan on the next turn
  } else {
    next_scan_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxRescan);
  }
  if (killing_ && now >= give_up_at_) return Verdict::kGiveUp;
  return Verdict::kGoOn;
}

Escalation::TimePoint Escalation::NextWake() const {
  return std::min(next_scan_, killing_ ? give_up_at_ : kill_at_);
}

}  // namespace berth::runtime::local
