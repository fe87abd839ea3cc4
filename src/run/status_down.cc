// `berth status` and `berth down`, run from another terminal: they ask the
// `berth run` of a run dir through its control API, and fall back to the
// run dir's state.json (and signals) when it does not answer or is gone.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "berth/clock.h"
#include "control/control_client.h"
#include "control/control_server.h"
#include "formats/run_state.h"
#include "run/leftovers.h"
#include "run/run_dir.h"
#include "run/runner.h"
#include "run/slurm_leftover.h"

namespace berth::run {
namespace {

using std::chrono::milliseconds;

bool ProcessAlive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

void PrintStatus(const formats::RunState& s, bool berth_alive) {
  std::printf("experiment %s, run dir %s\nberth pid %d (%s), phase %s%s%s\n\n%s",
              s.experiment.c_str(), s.run_dir.c_str(), s.berth_pid,
              berth_alive ? "running" : "not running", s.phase.c_str(),
              s.message.empty() ? "" : ": ", s.message.c_str(), formats::RenderTable(s).c_str());
  std::printf("%s", formats::RenderRoleHealth(s).c_str());
}

constexpr milliseconds kControlTimeout{10000};

}  // namespace

int ShowStatus(const std::string& run_dir) {
  // Live, from berth itself, when it runs and answers.
  Result<control::ControlResponse> live =
      control::ControlRequest(run_dir, "GET", "/v1/status", "", kControlTimeout);
  std::string why_not;  // why the saved state is shown instead
  if (live && live->status == 200) {
    Result<formats::RunState> s = formats::RunStateFromJson(live->body, "status");
    if (s) {
      PrintStatus(*s, true);
      return 0;
    }
    why_not = s.error().message();
  } else if (live) {
    why_not =
        "its control API answered " + std::to_string(live->status) + ": " + live->error_message();
  } else if (live.error().code() != ErrorCode::kNotFound) {
    why_not = live.error().message();
  }
  Result<formats::RunState> s = formats::ReadState(run_dir);
  if (!s) {
    std::fprintf(stderr, "berth status: %s\n", s.error().message().c_str());
    return 2;
  }
  bool berth_alive = ProcessAlive(s->berth_pid);
  if (berth_alive) {
    std::printf("berth (pid %d) runs but its control API did not answer%s; last saved state\n",
                s->berth_pid, why_not.empty() ? "" : (" (" + why_not + ")").c_str());
  } else {
    std::printf("berth is not running; last saved state\n");
  }
  for (formats::WorkerRecord& w : s->workers) {
    bool live_state = w.state == formats::WorkerState::kReady ||
                      w.state == formats::WorkerState::kStarting ||
                      w.state == formats::WorkerState::kStopping;
    if (live_state && !ProcessAlive(w.pid)) w.exit = w.exit.empty() ? "gone" : w.exit;
  }
  PrintStatus(*s, berth_alive);
  return 0;
}

int ShowStatusWeb(const std::string& run_dir) {
  // Only the URL: the page itself asks berth, so berth must be running.
  Result<control::ControlAddress> addr = control::ReadControlAddress(run_dir);
  if (!addr) {
    std::fprintf(stderr, "berth status --web: %s\n",
                 addr.error().code() == ErrorCode::kNotFound
                     ? ("berth is not running in " + run_dir +
                        " (no control.json); the page is served by a running berth run; "
                        "berth status " +
                        run_dir + " shows the last saved state")
                           .c_str()
                     : addr.error().message().c_str());
    return 2;
  }
  if (!ProcessAlive(addr->pid)) {
    std::fprintf(stderr,
                 "berth status --web: berth is not running (pid %d gone); berth status %s "
                 "shows the last saved state\n",
                 addr->pid, run_dir.c_str());
    return 2;
  }
  Result<std::string> token = control::ReadControlToken(run_dir);
  if (!token) {
    std::fprintf(stderr, "berth status --web: %s\n", token.error().message().c_str());
    return 2;
  }
  // The token goes in the fragment: a browser never sends it to a server or
  // in a Referer; the page reads it and sends it as the Authorization header.
  std::printf("%s/#token=%s\n", addr->url.c_str(), token->c_str());
  std::fprintf(stderr,
               "open it in a browser on this machine (it listens on 127.0.0.1; from another "
               "one: ssh -L %d:127.0.0.1:%d this-host); the URL carries the run's token: "
               "whoever has it can stop the run\n",
               addr->port, addr->port);
  return 0;
}

int Down(const std::string& run_dir, double timeout_s) {
  Result<formats::RunState> s = formats::ReadState(run_dir);
  if (!s) {
    std::fprintf(stderr, "berth down: %s\n", s.error().message().c_str());
    return 2;
  }
  Clock& clock = Clock::System();
  const Clock::TimePoint deadline = clock.Now() + std::chrono::duration_cast<Clock::Duration>(
                                                      std::chrono::duration<double>(timeout_s));
  // The berth that holds the directory now is the one to stop, even when
  // state.json still names the one before it (a berth run that has just
  // taken the directory saves its state a moment later): wait for that
  // state, bounded, else stop the holder on what the lock file says.
  int berth = s->berth_pid;  // the one to stop
  if (std::optional<int> holder = RunDirectory::LockHolder(run_dir); holder && *holder != berth) {
    (void)clock.WaitUntil(std::min(deadline, clock.Now() + std::chrono::seconds(5)),
                          milliseconds(20), [&] {
                            Result<formats::RunState> now = formats::ReadState(run_dir);
                            if (now && now->berth_pid == *holder) s = std::move(now);
                            return s->berth_pid == *holder;
                          });
    berth = *holder;
    if (s->berth_pid != berth) {
      std::printf("berth (pid %d) holds %s but has not saved its state yet\n", berth,
                  run_dir.c_str());
    }
  }
  if (ProcessAlive(berth)) {
    std::printf("asking berth (pid %d) to stop %s\n", berth, s->experiment.c_str());
    std::fflush(stdout);
    // Through the control API; a berth that does not answer it gets SIGTERM.
    Result<control::ControlResponse> r =
        control::ControlRequest(run_dir, "POST", "/v1/down", "", kControlTimeout);
    if (!r || r->status != 200) {
      const std::string why =
          !r ? r.error().message()
             : "it answered " + std::to_string(r->status) + ": " + r->error_message();
      std::fprintf(stderr,
                   "berth down: the control API did not take the request (%s); sending "
                   "SIGTERM\n",
                   why.c_str());
      ::kill(berth, SIGTERM);
    }
    (void)clock.WaitUntil(deadline, milliseconds(20), [&] { return !ProcessAlive(berth); });
  }
  // Whatever is left (berth was gone, or did not stop in time) is killed
  // here: the workers it recorded, those created through the control API
  // included (read again: berth saved them on its way out).
  std::vector<int> left;
  auto note = [&left](const formats::RunState& st) {
    for (const formats::WorkerRecord& w : st.workers) {
      if (ProcessAlive(w.pid) && std::find(left.begin(), left.end(), w.pid) == left.end()) {
        left.push_back(w.pid);
      }
    }
  };
  note(*s);
  if (Result<formats::RunState> again = formats::ReadState(run_dir)) note(*again);
  if (ProcessAlive(berth)) {
    std::fprintf(stderr, "berth down: berth (pid %d) did not stop within %.1f s\n", berth,
                 timeout_s);
    return 1;
  }
  for (int pid : left) ::kill(pid, SIGKILL);
  // What the workers started, found through the run's cgroup even when
  // berth and its supervisor were killed together.
  const bool cgroup_ended = EndLeftoverCgroup(*s, "berth down");
  // The Slurm job holding the run's nodes, when berth did not end it (the
  // latest state: a run placed again after a node failure has a new job).
  if (Result<formats::RunState> latest = formats::ReadState(run_dir);
      !EndLeftoverSlurmJob(latest ? *latest : *s, run_dir, "berth down", true)) {
    return 1;
  }
  if (!cgroup_ended) return 1;
  std::printf("stopped %s%s\n", s->experiment.c_str(),
              left.empty() ? "" : " (killed workers that outlived berth)");
  return 0;
}

}  // namespace berth::run
