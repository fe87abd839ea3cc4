#include "berth/recovery.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "common/text.h"

namespace berth {
namespace {

std::string SecondsText(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

bool IsGang(const RoleSpec& spec) {
  return spec.placement == PlacementMode::kShared && !spec.instance;
}

}  // namespace

const char* RecoveryEventName(RecoveryEvent::Kind k) {
  switch (k) {
    case RecoveryEvent::Kind::kFailed:
      return "failed";
    case RecoveryEvent::Kind::kRestartIn:
      return "restart_in";
    case RecoveryEvent::Kind::kRestarted:
      return "restarted";
    case RecoveryEvent::Kind::kRestartFailed:
      return "restart_failed";
    case RecoveryEvent::Kind::kDropped:
      return "dropped";
    case RecoveryEvent::Kind::kGivenUp:
      return "given_up";
  }
  return "unknown";
}

const Worker* Recovery::Owner(const std::string& worker) const {
  const Worker* w = scheduler_.FindWorker(worker);
  while (w != nullptr && !w->plan.fork_of.empty()) w = scheduler_.FindWorker(w->plan.fork_of);
  return w;
}

std::string Recovery::UnitKey(const Worker& owner) const {
  const RoleSpec* spec = scheduler_.FindRoleSpec(owner.plan.role);
  if (spec != nullptr && IsGang(*spec)) return owner.plan.role;
  return owner.plan.role + "/" + std::to_string(owner.plan.index);
}

void Recovery::Emit(RecoveryEvent::Kind kind, const Worker& w, std::string cause, int restarts,
                    double wait_s) const {
  if (!on_event_) return;
  on_event_({kind, w.plan.role, w.plan.id, w.plan.node, std::move(cause), restarts, wait_s});
}

bool Recovery::Pending(const std::string& worker) const {
  const Worker* owner = Owner(worker);
  if (owner == nullptr) return false;
  const std::string key = UnitKey(*owner);
  return std::any_of(due_.begin(), due_.end(), [&](const Due& d) { return d.unit == key; });
}

std::optional<Clock::TimePoint> Recovery::NextDue() const {
  std::optional<Clock::TimePoint> next;
  for (const Due& d : due_) {
    if (!next || d.at < *next) next = d.at;
  }
  return next;
}

Result<bool> Recovery::OnExit(const Worker& w) {
  if (w.exit_status == 0) return false;  // finished: not a failure
  const Worker* owner = Owner(w.plan.id);
  if (owner == nullptr) return false;
  const RoleSpec* spec = scheduler_.FindRoleSpec(owner->plan.role);
  if (spec == nullptr || spec->on_failure.action == FailurePolicy::Action::kFail) return false;
  auto budget = budgets_.find(UnitKey(*owner));
  Emit(RecoveryEvent::Kind::kFailed, w, w.exit,
       budget != budgets_.end() ? budget->second.used() : 0);
  // Another process of a unit that already waits for its restart.
  if (Pending(w.plan.id)) return true;
  return Failed(*owner, w.plan.id, "worker " + w.plan.id + " " + w.exit);
}

Result<bool> Recovery::OnNodeLost(const std::vector<std::string>& workers,
                                  const std::string& cause) {
  for (const std::string& id : workers) {
    const Worker* owner = Owner(id);
    const RoleSpec* spec = owner != nullptr ? scheduler_.FindRoleSpec(owner->plan.role) : nullptr;
    if (spec == nullptr || spec->on_failure.action == FailurePolicy::Action::kFail) return false;
  }
  for (const std::string& id : workers) {
    const Worker* w = scheduler_.FindWorker(id);
    const Worker* owner = Owner(id);
    if (w == nullptr || owner == nullptr) continue;  // dropped with an earlier one's unit
    auto budget = budgets_.find(UnitKey(*owner));
    Emit(RecoveryEvent::Kind::kFailed, *w, cause,
         budget != budgets_.end() ? budget->second.used() : 0);
    if (Pending(id)) continue;
    const Worker copy = *owner;  // a drop forgets it
    BERTH_ASSIGN_OR_RETURN(bool handled, Failed(copy, id, "worker " + id + " " + cause));
    if (!handled) return false;
  }
  return true;
}

Result<bool> Recovery::Failed(const Worker& owner, const std::string& worker,
                              const std::string& cause) {
  const RoleSpec& spec = *scheduler_.FindRoleSpec(owner.plan.role);
  const FailurePolicy& policy = spec.on_failure;
  if (policy.action == FailurePolicy::Action::kDrop) return Drop(owner, worker, cause);
  const std::string key = UnitKey(owner);
  auto it = budgets_.try_emplace(key, policy).first;
  std::optional<Clock::Duration> wait = it->second.OnFailure(clock_.Now());
  if (!wait) {
    const std::string why = cause + "; its unit " + key + " restarted " +
                            std::to_string(policy.max_restarts) + " time(s) within " +
                            SecondsText(policy.window_s) + " s (restart.max_restarts " +
                            std::to_string(policy.max_restarts) + ")";
    if (policy.min_replicas) return Drop(owner, worker, why);
    Emit(RecoveryEvent::Kind::kGivenUp, owner, why, it->second.used());
    return WorkerFailed(why + ": giving up");
  }
  const double seconds = std::chrono::duration<double>(*wait).count();
  Emit(RecoveryEvent::Kind::kRestartIn, owner, cause, it->second.used(), seconds);
  due_.push_back({clock_.Now() + *wait, key, owner.plan.id});
  return true;
}

Result<bool> Recovery::Drop(const Worker& owner, const std::string& worker,
                            const std::string& why) {
  const RoleSpec& spec = *scheduler_.FindRoleSpec(owner.plan.role);
  const std::string role = owner.plan.role;
  const Worker copy = owner;  // DropUnit forgets it
  BERTH_RETURN_IF_ERROR(scheduler_.DropUnit(worker));
  std::set<int> alive;
  for (const Worker& w : scheduler_.Workers()) {
    if (w.plan.role == role && w.plan.fork_of.empty() &&
        (w.phase == WorkerPhase::kStarting || w.phase == WorkerPhase::kReady)) {
      alive.insert(w.plan.index);
    }
  }
  const int min = spec.on_failure.min_replicas.value_or(1);
  const std::string left = std::to_string(alive.size()) + " of " + std::to_string(spec.replicas) +
                           " instance(s) of role " + common::Quote(role) + " left";
  Emit(RecoveryEvent::Kind::kDropped, copy, why + "; " + left);
  if (static_cast<int>(alive.size()) < min) {
    const std::string msg =
        why + "; dropped, " + left + ", below min_replicas " + std::to_string(min);
    Emit(RecoveryEvent::Kind::kGivenUp, copy, msg);
    return WorkerFailed(msg + ": giving up");
  }
  return true;
}

Status Recovery::RunDue() {
  const Clock::TimePoint now = clock_.Now();
  std::vector<Due> ready;
  auto split =
      std::stable_partition(due_.begin(), due_.end(), [&](const Due& d) { return d.at > now; });
  ready.assign(split, due_.end());
  due_.erase(split, due_.end());
  for (const Due& d : ready) {
    const Worker* owner = scheduler_.FindWorker(d.worker);
    if (owner == nullptr) continue;  // deleted meanwhile (the control API)
    const Worker copy = *owner;
    Result<std::vector<std::string>> ids = scheduler_.RestartUnit(d.worker);
    if (ids) {
      const Worker* again = scheduler_.FindWorker(d.worker);
      Emit(RecoveryEvent::Kind::kRestarted, again != nullptr ? *again : copy, {},
           budgets_.at(d.unit).used());
      continue;
    }
    Emit(RecoveryEvent::Kind::kRestartFailed, copy, ids.error().message(),
         budgets_.at(d.unit).used());
    // The unit is stopped, on record: its policy decides again.
    Result<bool> next = Failed(copy, d.worker, ids.error().message());
    if (!next) return next.error();
  }
  return Status::Ok();
}

Status Recovery::Tend(Clock::TimePoint deadline) {
  while (true) {
    Result<std::vector<Worker>> exits = scheduler_.WaitExits(std::chrono::milliseconds(0));
    if (!exits) return exits.error();
    for (const Worker& w : *exits) {
      Result<bool> handled = OnExit(w);
      if (!handled) return handled.error();
    }
    BERTH_RETURN_IF_ERROR(RunDue());
    const std::optional<Clock::TimePoint> next = NextDue();
    const Clock::TimePoint now = clock_.Now();
    if (!next || *next > deadline) return Status::Ok();
    // In short steps: an exit meanwhile is taken on the next round.
    clock_.SleepFor(std::min<Clock::Duration>(*next - now, std::chrono::milliseconds(20)));
  }
}

}  // namespace berth
