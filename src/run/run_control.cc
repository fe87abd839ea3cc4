// The control API's handlers of Run (control::ControlHandlers), on the server's
// threads: status and roles are answered from the snapshot that Publish
// takes at each save; the calls that start, stop or wait for workers are
// queued to the main thread (the Scheduler is not thread-safe), which runs
// them between two waits of Watch. See run.h and control_server.h.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "formats/comm_group_json.h"
#include "formats/plan_map.h"
#include "run/run.h"
#include "scheduler/worker_json.h"

namespace berth::run {
namespace {

control::ControlReply StoppingReply() {
  return control::ErrorReply(Unavailable("berth is stopping; nothing was done"), std::nullopt, 503);
}

milliseconds Seconds(double s) { return milliseconds(static_cast<int64_t>(s * 1000)); }

// How long a call may wait for the main thread before it gets a 503: its
// own timeout and 30 s.
constexpr double kQueueSlackS = 30;

}  // namespace

void Run::StartControl() {
  Publish();  // what GET /v1/status shows before the first save
  Status st = control_.Start(state_.run_dir, this);
  if (!st.ok()) {
    // The run does not need it: berth status and berth down fall back to
    // state.json and a signal.
    std::fprintf(stderr,
                 "warning: the control API did not start (%s); berth status and berth down "
                 "use state.json and SIGTERM instead\n",
                 st.message().c_str());
  }
}

void Run::StopControl(const std::string& why) {
  mailbox_.Close(why);
  feed_.Close();
  CloseGroups();
  control_.Stop();
}

void Run::Publish() {
  std::vector<std::string> roles = scheduler_ ? scheduler_->Roles() : std::vector<std::string>{};
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    snapshot_ = state_;
    roles_now_ = std::move(roles);
    started_now_ = started_;
    ++status_version_;
  }
  status_cv_.notify_all();
}

std::string Run::BusyReason() {
  std::string phase;
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    phase = snapshot_.phase;
  }
  if (phase == "starting") {
    return "berth is still starting the experiment's roles; calls that start, stop or wait for "
           "workers run once berth status shows phase running";
  }
  if (phase == "running") {
    return "berth was busy with earlier calls (create, fork, delete and get workers run one at "
           "a time)";
  }
  return "berth is " + (phase.empty() ? std::string("busy") : phase);
}

control::ControlReply Run::GetEvents(int64_t after, double timeout_s) {
  // Straight from the feed: no Scheduler call, so not through the mailbox.
  EventFeed::Page page = feed_.After(after, Seconds(timeout_s));
  nlohmann::ordered_json body;
  body["events"] = std::move(page.events);
  body["next"] = page.next;
  body["first"] = page.first;
  return control::ControlReply{200, std::move(body)};
}

void Run::OnCommGroup(const CommGroup& group) {
  nlohmann::ordered_json event;
  event["time"] = UtcNow();
  event["kind"] = "group";
  const nlohmann::ordered_json fields = formats::CommGroupJson(group);  // outlives the loop
  for (const auto& [key, value] : fields.items()) event[key] = value;
  AppendEvent(event);
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    groups_now_[group.name] = group;
  }
  groups_cv_.notify_all();
}

void Run::CloseGroups() {
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    groups_closed_ = true;
  }
  groups_cv_.notify_all();
  status_cv_.notify_all();  // long polls of the status end too
}

control::ControlReply Run::GetGroup(const std::string& name, int64_t after_version,
                                    double timeout_s) {
  // From the view OnCommGroup keeps: no Scheduler call, so not through the
  // mailbox; waits for a newer version without holding anyone up.
  const bool known = std::any_of(experiment_.comm_groups.begin(), experiment_.comm_groups.end(),
                                 [&](const CommGroupSpec& g) { return g.name == name; });
  if (!known) {
    std::string names;
    for (const CommGroupSpec& g : experiment_.comm_groups) {
      names += (names.empty() ? "" : ", ") + g.name;
    }
    return control::ErrorReply(NotFound("no communication group is named \"" + name +
                                        "\" (groups: " + (names.empty() ? "none" : names) + ")"));
  }
  std::unique_lock<std::mutex> lock(snapshot_mu_);
  groups_cv_.wait_for(lock, Seconds(timeout_s), [&] {
    auto it = groups_now_.find(name);
    return groups_closed_ || (it != groups_now_.end() && it->second.version > after_version);
  });
  auto it = groups_now_.find(name);
  if (it == groups_now_.end()) {
    return control::ErrorReply(
        Unavailable("group \"" + name + "\" has no version yet: its roles are starting"),
        std::nullopt, 503);
  }
  return control::ControlReply{200, formats::CommGroupJson(it->second)};
}

control::ControlReply Run::GetStatus() { return GetStatusAfter(0, 0); }

control::ControlReply Run::GetStatusAfter(int64_t after_version, double timeout_s) {
  std::unique_lock<std::mutex> lock(snapshot_mu_);
  status_cv_.wait_for(lock, Seconds(timeout_s),
                      [&] { return groups_closed_ || status_version_ > after_version; });
  nlohmann::ordered_json body = formats::RunStateToJson(snapshot_, formats::PortShape::kMap);
  body["version"] = status_version_;
  // Uptime of the workers that run: since their last start.
  const auto now = std::chrono::system_clock::now();
  for (nlohmann::ordered_json& w : body["workers"]) {
    const std::string state = w.value("state", std::string());
    auto it = started_now_.find(w.value("id", std::string()));
    if (it == started_now_.end() || (state != "starting" && state != "ready")) continue;
    const double up = std::chrono::duration<double>(now - it->second).count();
    w["uptime_s"] = std::max(0.0, std::floor(up * 10) / 10);
  }
  return control::ControlReply{200, std::move(body)};
}

void Run::DrawMap(const Plan& plan) {
  const std::string cluster =
      std::to_string(nodes_.size()) + (slurm_ ? " node(s) of Slurm" : " node: this machine");
  std::string html =
      formats::PlanHtml(formats::PlanMapInput{experiment_.name, cluster, &plan, &nodes_, nullptr});
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  map_html_ = std::move(html);
}

control::ControlReply Run::GetMap() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  if (map_html_.empty()) {
    return control::ErrorReply(NotFound("no placement map yet: berth has not planned the run"));
  }
  nlohmann::ordered_json body;
  body["html"] = map_html_;
  return control::ControlReply{200, std::move(body)};
}

control::ControlReply Run::ListRoles() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  nlohmann::ordered_json body;
  body["roles"] = roles_now_;
  return control::ControlReply{200, body};
}

control::ControlReply Run::GetWorkers(const std::string& role, double timeout_s) {
  return mailbox_.Call(
      [this, role, timeout_s]() -> control::ControlReply {
        if (Stopping()) return StoppingReply();
        Result<std::vector<Worker>> workers = scheduler_->GetWorkers(role, Seconds(timeout_s));
        if (!workers) return control::ErrorReply(workers.error(), scheduler_->last_failure());
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const Worker& w : *workers) list.push_back(scheduler::WorkerJson(w));
        nlohmann::ordered_json body;
        body["workers"] = list;
        return control::ControlReply{200, body};
      },
      Seconds(timeout_s + kQueueSlackS));
}

control::ControlReply Run::Created(const std::string& role, Result<std::vector<std::string>> ids) {
  if (!ids) {
    // All or nothing: the Scheduler rolled the role back, and the state
    // forgets the workers it started for it.
    std::printf("control API: %s not created: %s\n", role.c_str(),
                ids.error().message().substr(0, ids.error().message().find('\n')).c_str());
    state_.workers.erase(std::remove_if(state_.workers.begin(), state_.workers.end(),
                                        [&](const formats::WorkerRecord& w) {
                                          return w.role == role &&
                                                 w.state != formats::WorkerState::kStarting &&
                                                 w.state != formats::WorkerState::kReady;
                                        }),
                         state_.workers.end());
    Save();
    std::fflush(stdout);
    table_lines_ = 0;
    return control::ErrorReply(ids.error(), scheduler_->last_failure());
  }
  Save();
  ShowTable(false);
  nlohmann::ordered_json body;
  body["ids"] = *ids;
  return control::ControlReply{200, body};
}

control::ControlReply Run::CreateRole(const RoleSpec& role) {
  return mailbox_.Call(
      [this, role]() -> control::ControlReply {
        if (Stopping()) return StoppingReply();
        std::printf("control API: starting %s: %d worker(s)\n", role.name.c_str(), role.replicas);
        std::fflush(stdout);
        return Created(role.name, scheduler_->CreateWorkers(role));
      },
      Seconds(role.startup_timeout_s + kQueueSlackS));
}

control::ControlReply Run::ForkRole(const std::string& role, const std::string& target,
                                    const std::vector<std::string>& command) {
  return mailbox_.Call(
      [this, role, target, command]() -> control::ControlReply {
        if (Stopping()) return StoppingReply();
        std::printf("control API: forking %s onto %s\n", role.c_str(), target.c_str());
        std::fflush(stdout);
        return Created(role, scheduler_->ForkWorkers(role, target, command));
      },
      Seconds(30 + kQueueSlackS));  // the target's startup timeout is not known here
}

control::ControlReply Run::DeleteRole(const std::string& role) {
  return mailbox_.Call(
      [this, role]() -> control::ControlReply {
        if (Stopping()) return StoppingReply();
        const std::vector<std::string> before = scheduler_->Roles();
        Status st = scheduler_->DeleteWorkers(role);
        const std::vector<std::string> after = scheduler_->Roles();
        // In the order they were stopped: what was colocated on the role
        // (newest first), then the role.
        std::vector<std::string> deleted;
        for (auto r = before.rbegin(); r != before.rend(); ++r) {
          if (*r != role && std::find(after.begin(), after.end(), *r) == after.end()) {
            deleted.push_back(*r);
          }
        }
        if (std::find(before.begin(), before.end(), role) != before.end() &&
            std::find(after.begin(), after.end(), role) == after.end()) {
          deleted.push_back(role);
        }
        if (!deleted.empty()) {
          std::string names;
          for (const std::string& r : deleted) names += (names.empty() ? "" : ", ") + r;
          std::printf("control API: deleted %s\n", names.c_str());
          Save();
          ShowTable(false);
        }
        if (!st.ok()) return control::ErrorReply(st);
        nlohmann::ordered_json body;
        body["deleted"] = role;
        body["roles_deleted"] = deleted;
        return control::ControlReply{200, body};
      },
      Seconds(kQueueSlackS));
}

control::ControlReply Run::ScaleRole(const std::string& role, int replicas,
                                     std::optional<double> timeout_s) {
  // Without a timeout the workers' startup timeouts bound it: the queue
  // waits for the longest a role of the experiment has.
  double wait_s = timeout_s.value_or(0);
  if (!timeout_s) {
    for (const RoleSpec& r : experiment_.roles) wait_s = std::max(wait_s, r.startup_timeout_s);
    wait_s = std::max(wait_s, 300.0);
  }
  return mailbox_.Call(
      [this, role, replicas, timeout_s]() -> control::ControlReply {
        if (Stopping()) return StoppingReply();
        const std::vector<Worker> workers = scheduler_->Workers();
        std::set<std::string> live;  // the Scheduler's workers before
        for (const Worker& w : workers) live.insert(w.plan.id);
        std::set<std::string> recorded;
        for (const formats::WorkerRecord& w : state_.workers) recorded.insert(w.id);
        std::printf("control API: scaling %s to %d instance(s)\n", role.c_str(), replicas);
        std::fflush(stdout);
        Result<std::vector<std::string>> ids = scheduler_->ScaleWorkers(
            role, replicas,
            timeout_s ? std::optional<milliseconds>(Seconds(*timeout_s)) : std::nullopt);
        // The records of workers scaled away, or of new ones rolled back, go
        // (those of roles deleted earlier stay, as after any delete).
        std::erase_if(state_.workers, [&](const formats::WorkerRecord& w) {
          return scheduler_->FindWorker(w.id) == nullptr &&
                 (live.contains(w.id) || !recorded.contains(w.id));
        });
        table_lines_ = 0;
        if (alloc_) EndIdleFurtherJobs();
        if (!ids) {
          std::printf("control API: %s not scaled: %s\n", role.c_str(),
                      ids.error().message().substr(0, ids.error().message().find('\n')).c_str());
          std::fflush(stdout);
          Save();
          return control::ErrorReply(ids.error(), scheduler_->last_failure());
        }
        nlohmann::ordered_json event;
        event["time"] = UtcNow();
        event["kind"] = "scaled";
        event["role"] = role;
        event["replicas"] = replicas;
        event["workers_before"] = workers.size();
        event["workers"] = scheduler_->Workers().size();
        AppendEvent(event);
        Save();
        ShowTable(false);
        nlohmann::ordered_json body;
        body["role"] = role;
        body["replicas"] = replicas;
        body["ids"] = *ids;
        return control::ControlReply{200, body};
      },
      Seconds(wait_s + kQueueSlackS));
}

control::ControlReply Run::Down() {
  stop_->RequestDown();
  nlohmann::ordered_json body;
  body["stopping"] = true;
  return control::ControlReply{200, body};
}

}  // namespace berth::run
