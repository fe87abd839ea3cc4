#pragma once
// What happens when a worker fails while the run goes on: its role's
// FailurePolicy (include/berth/experiment.h) applied to the worker's unit
// (Scheduler::UnitOf). A restart waits out its backoff first, so the caller
// keeps serving (exits, the control API) and calls RunDue() between waits.
//
// Only failures count: a worker that exits 0 has finished, which is not for
// a policy to undo.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "berth/restart_budget.h"
#include "berth/scheduler.h"

namespace berth {

// One step of a recovery, for the events log and the screen.
struct RecoveryEvent {
  enum class Kind {
    kFailed,         // a worker failed (cause: how it ended)
    kRestartIn,      // its unit restarts after wait_s
    kRestarted,      // the unit is ready again
    kRestartFailed,  // the unit's new start failed (cause: why)
    kDropped,        // the unit was stopped for good
    kGivenUp,        // the policy ends the run (cause: why)
  };
  Kind kind = Kind::kFailed;
  std::string role;
  std::string worker;
  std::string node;
  std::string cause;
  int restarts = 0;  // of the unit, within the window
  double wait_s = 0;
};
const char* RecoveryEventName(RecoveryEvent::Kind k);  // "failed", "restart_in", ...

class Recovery {
 public:
  Recovery(Scheduler& scheduler, Clock& clock, std::function<void(const RecoveryEvent&)> on_event)
      : scheduler_(scheduler), clock_(clock), on_event_(std::move(on_event)) {}

  // A worker that exited on its own, as WaitExits reported it. Returns true
  // when the policy handles it (a restart is due, or the unit was dropped
  // and enough instances remain), false when the role's policy is `fail`
  // (the caller ends the run as before), or an error when the policy gives
  // up: restarts used up, or fewer than min_replicas instances left (the
  // message names the worker, the cause and the budget).
  Result<bool> OnExit(const Worker& w);

  // The running workers that stood on a lost node (Scheduler::LoseNode
  // returns them): each one's unit fails with `cause` ("lost with node
  // node2: ..."). Returns false, having done nothing, when one of their
  // roles' policies is `fail` (the caller ends the run as before); else
  // true, or an error as OnExit's.
  Result<bool> OnNodeLost(const std::vector<std::string>& workers, const std::string& cause);

  // Restarts whose backoff has passed. Errors as OnExit's.
  Status RunDue();

  // When the next restart is due, if one is.
  std::optional<Clock::TimePoint> NextDue() const;

  // Whether the worker's unit waits for a restart.
  bool Pending(const std::string& worker) const;

  // For a caller without a watch loop of its own (the Python module, before
  // get_workers): takes the exits the Scheduler has (WaitExits), applies the
  // policies, and runs restarts as they come due, until none is due by
  // `deadline`. Exits of roles whose policy is `fail` are left to the next
  // call that looks at them (get_workers reports them). Errors: a policy
  // gave up (as OnExit), or the process runtime is gone.
  Status Tend(Clock::TimePoint deadline);

 private:
  struct Due {
    Clock::TimePoint at;
    std::string unit;    // its key
    std::string worker;  // the one whose unit restarts
  };
  // The worker a unit's policy belongs to (a fork's target worker), its
  // role's spec, and the unit's key ("role" for a gang, "role/index").
  const Worker* Owner(const std::string& worker) const;
  std::string UnitKey(const Worker& owner) const;
  // The unit of `owner` failed (`cause`): schedule a restart, or drop it, or give up.
  Result<bool> Failed(const Worker& owner, const std::string& worker, const std::string& cause);
  Result<bool> Drop(const Worker& owner, const std::string& worker, const std::string& why);
  void Emit(RecoveryEvent::Kind kind, const Worker& w, std::string cause, int restarts = 0,
            double wait_s = 0) const;

  Scheduler& scheduler_;
  Clock& clock_;
  std::function<void(const RecoveryEvent&)> on_event_;
  std::map<std::string, RestartBudget> budgets_;  // unit key -> its budget
  std::vector<Due> due_;
};

}  // namespace berth
