#pragma once
// The job that holds the experiment lives no longer than berth (plus a bound).
//
// berth may die without cancelling it (SIGKILL, the OOM killer, a crashed
// login node). Slurm itself would then keep the job RUNNING, holding every
// node, for ever: the experiment has no time limit, and --deadline ends a job
// without one at once. So the job watches berth: its batch script (below),
// which runs on the job's first node, reads a heartbeat file that berth
// rewrites with new text every kHeartbeatInterval, and when the text has not
// changed for kHeartbeatLimit it cancels its own job (scancel $SLURM_JOB_ID;
// Slurm then ends every step on every node). A job that starts after berth
// died (it was pending) finds the beat already old and ends at once.
//
// Why a file and its text: no clock is compared across machines. The batch
// script counts its own seconds between looks at the text; only at start,
// to tell an old beat from a fresh one, does it compare two file times (the
// beat's and that of a file it touches now), which the file system holding
// both sets from one clock.
//
// What it needs: the run directory on a file system that the job's first node
// sees under the same path (a shared home or project directory, as for
// holder.log). A node that cannot see the beat ends the job at once: the run
// fails at its start ("ended ... before it ran"), never later under a live
// berth.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "berth/status.h"
#include "common/safe_open.h"

namespace berth::runtime::slurm {

// berth writes a beat this often; the batch script looks this often.
inline constexpr std::chrono::seconds kHeartbeatInterval{2};
// Without a new beat for this long, berth counts as gone. Far above the
// interval, so that a berth held up by a slow disk is not taken for dead.
inline constexpr std::chrono::seconds kHeartbeatLimit{15};
// In the run directory.
inline constexpr char kHeartbeatFile[] = "slurm.heartbeat";
inline constexpr char kHolderScriptFile[] = "holder.sh";
inline constexpr char kHolderLogFile[] = "holder.log";

// The holder's batch script. $1: the heartbeat file; $2: kHeartbeatLimit and
// $3: kHeartbeatInterval, in seconds (HolderScriptArgs). Its line on giving
// up goes to holder.log.
inline constexpr char kHolderScript[] = R"(#!/bin/sh
# berth's holder job: holds the experiment's nodes while berth lives
# (src/runtime/slurm/holder.h). $1: the heartbeat file berth rewrites with new
# text every few seconds; $2: seconds without a new beat after which berth
# counts as gone; $3: seconds between two looks. Then the job cancels itself,
# which ends every step of it on every node.
hb=$1 limit=$2 every=$3
# A job that starts long after berth's last beat (berth was killed while the
# job was pending) ends at once. The beat's age is the difference of two file
# times set by the file system that holds both (the beat's, and that of a file
# touched here now), never this node's clock against berth's.
still=0
if touch "$hb.seen" 2>/dev/null; then
  seen=$(stat -c %Y "$hb.seen" 2>/dev/null) && beat=$(stat -c %Y "$hb" 2>/dev/null) &&
    still=$((seen - beat))
  rm -f "$hb.seen"
fi
[ -e "$hb" ] || still=$limit
[ "$still" -ge 0 ] || still=0
last=$(cat "$hb" 2>/dev/null)
while [ "$still" -lt "$limit" ]; do
  sleep "$every"
  now=$(cat "$hb" 2>/dev/null)
  if [ -n "$now" ] && [ "$now" != "$last" ]; then last=$now still=0; else still=$((still + every)); fi
done
echo "berth holder: $hb has not changed for $still s: berth is gone; cancelling job $SLURM_JOB_ID"
scancel "$SLURM_JOB_ID"
# Without scancel the script's end ends the job too (FAILED instead of CANCELLED).
exit 1
)";

// The script's arguments for the heartbeat at `heartbeat_path`.
std::vector<std::string> HolderScriptArgs(const std::string& heartbeat_path);

// berth's side: beats from its own thread, so that it beats whatever the
// main thread is doing (waiting for the job to start, starting workers,
// tearing down), until it is destroyed. Each beat opens the file anew
// (never through a symbolic link), writes "berth PID beat N T\n" and closes
// it: a file system shared over NFS shows other machines a file's new text
// once it is closed.
class Heartbeat {
 public:
  // Writes the first beat into `dir`/kHeartbeatFile (an error if it cannot:
  // the job would end at once), then beats every `interval`.
  static Result<std::unique_ptr<Heartbeat>> Start(const std::string& dir,
                                                  std::chrono::milliseconds interval);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // The file's absolute path, as the batch script gets it.
  const std::string& path() const { return path_; }
  // Beats written so far (the first included).
  int beats() const;

 private:
  Heartbeat(common::UniqueFd dir, std::string shown_dir, std::string path,
            std::chrono::milliseconds interval)
      : dir_(std::move(dir)),
        shown_dir_(std::move(shown_dir)),
        path_(std::move(path)),
        interval_(interval) {}
  Status Beat();
  void Loop();

  common::UniqueFd dir_;
  std::string shown_dir_;
  std::string path_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  int beats_ = 0;      // guarded by mu_
  std::thread thread_;
};

}  // namespace berth::runtime::slurm
