// The supervisor process's handlers of berth's requests (spawn, terminate, shut down) and replies.

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/local/spawn.h"
#include "runtime/local/supervisor.h"
#include "runtime/local/supervisor_process.h"
#include "runtime/local/wire.h"
#include "runtime/local/worker_output.h"

namespace berth::runtime::local {
namespace {

constexpr milliseconds kMaxGrace{600'000};
// Children of one spawn batch between fork and exec at once, at most (each
// holds a pipe until it has exec'd; fewer if descriptors are short).
constexpr size_t kSpawnWindow = 256;

}  // namespace

void Supervisor::HandleFrame(const std::string& body) {
  WireReader r(body);
  MsgType type;
  uint64_t req = 0;
  if (!r.Type(&type) || !r.U64(&req)) {
    Complain("malformed frame from berth; shutting down");
    LoseParent("protocol error");
    return;
  }
  switch (type) {
    case MsgType::kSpawn: {
      uint32_t n = 0;
      if (!r.U32(&n) || n > r.remaining() / 24) break;  // a spec takes at least 24 bytes
      std::vector<LaunchSpec> specs(n);
      bool ok = true;
      for (LaunchSpec& s : specs) {
        ok = ok && r.Str(&s.id) && r.Strs(&s.argv) && r.Pairs(&s.env) && r.Str(&s.cwd) &&
             r.Str(&s.log_path) && r.Str(&s.merged_log_path) && r.Str(&s.log_root);
      }
      if (ok && r.AtEnd()) {
        HandleSpawn(req, std::move(specs));
        return;
      }
      break;
    }
    case MsgType::kTerminate: {
      uint8_t all = 0;
      std::vector<std::string> ids;
      int64_t grace_ms = 0;
      if (r.U8(&all) && r.Strs(&ids) && r.I64(&grace_ms) && r.AtEnd()) {
        HandleTerminate(req, all != 0, std::move(ids), grace_ms);
        return;
      }
      break;
    }
    case MsgType::kShutdown: {
      int64_t grace_ms = 0;
      if (r.I64(&grace_ms) && r.AtEnd()) {
        BeginFinal(milliseconds(std::clamp<int64_t>(grace_ms, 0, kMaxGrace.count())), req);
        return;
      }
      break;
    }
    default:
      break;
  }
  Complain("malformed request from berth; shutting down");
  LoseParent("protocol error");
}

void Supervisor::HandleSpawn(uint64_t req, std::vector<LaunchSpec> specs) {
  if (final_started_) return ReplySpawned(req, {}, BackendError("the supervisor is shutting down"));
  // Nothing starts unless every spec is valid and every id free.
  std::set<std::string> batch;
  for (const LaunchSpec& spec : specs) {
    Status valid = spec.Validate();
    if (!valid.ok()) return ReplySpawned(req, {}, valid);
    if (workers_.contains(spec.id)) {
      return ReplySpawned(req, {}, InvalidSpec("worker id '" + spec.id + "' is already in use"));
    }
    if (!batch.insert(spec.id).second) {
      return ReplySpawned(req, {},
                          InvalidSpec("worker id '" + spec.id + "' appears twice in the batch"));
    }
  }
  const size_t n = specs.size();
  std::vector<SpawnJob> jobs(n);
  std::vector<std::string> markers(n);
  for (size_t i = 0; i < n; ++i) {
    markers[i] = MarkerValue(token_, specs[i].id);
    jobs[i].who = "worker '" + specs[i].id + "'";
    jobs[i].plan = MakeExecPlan(specs[i], markers[i]);
  }
  std::vector<std::unique_ptr<WorkerOutput>> outputs(n);
  SpawnOptions so;
  so.timeout = opts_.spawn_timeout;
  so.window = kSpawnWindow;
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    // Up to 3 descriptors per worker (log, merged log, pipe) stay open.
    const int64_t spare =
        static_cast<int64_t>(nofile.rlim_cur) - 3 * static_cast<int64_t>(workers_.size() + n) - 64;
    so.window = static_cast<size_t>(std::clamp<int64_t>(spare, 8, kSpawnWindow));
  }
  so.child_nofile = child_nofile_ ? &*child_nofile_ : nullptr;
  // Keep copying the output of running workers, and of the batch's own as
  // they start, while the batch starts.
  std::vector<WorkerOutput*> watched;
  watched.reserve(workers_.size() + n);  // no allocation between forks
  so.watch = [&](std::vector<pollfd>* fds) {
    watched.clear();
    auto add = [&](WorkerOutput* out) {
      if (out == nullptr || out->pipe_fd() < 0) return;
      watched.push_back(out);
      fds->push_back({out->pipe_fd(), POLLIN, 0});
    };
    for (auto& [id, w] : workers_) add(w.output.get());
    for (auto& out : outputs) add(out.get());
  };
  so.ready = [&](size_t k) { watched[k]->Drain(kReadChunksPerTurn); };
  std::vector<SpawnOutcome> outcomes = ForkExecMany(
      jobs,
      [&](size_t i) -> Result<int> {
        Result<std::unique_ptr<WorkerOutput>> out = WorkerOutput::Open(specs[i], jobs[i].who);
        if (!out) return out.error();
        outputs[i] = std::move(*out);
        return outputs[i]->child_fd();
      },
      [&](size_t i) {
        if (outputs[i]) outputs[i]->ChildStarted();
      },
      so);

  // The first failure in spec order is the answer; the workers that did
  // start are undone before it is given.
  std::optional<Status> error;
  std::vector<std::string> started;
  std::vector<int32_t> pids;
  for (size_t i = 0; i < n; ++i) {
    const SpawnOutcome& o = outcomes[i];
    if (!o.status.ok() && !error) error = o.status;
    if (o.pid <= 0) continue;
    Worker w;
    w.id = specs[i].id;
    w.pid = o.pid;
    w.marker = markers[i];
    w.output = std::move(outputs[i]);
    by_pid_[w.pid] = w.id;
    started.push_back(w.id);
    pids.push_back(o.pid);
    workers_.emplace(w.id, std::move(w));
  }
  if (!error) return ReplySpawned(req, pids, Status::Ok());
  if (n > 1) {
    *error = Status(error->code(), error->message() + " (the batch of " + std::to_string(n) +
                                       " workers was rolled back: none of them runs)");
  }
  if (started.empty()) return ReplySpawned(req, {}, *error);
  for (const std::string& id : started) workers_.at(id).rolling_back = true;
  Teardown td;
  td.req = req;
  td.rollback = true;
  td.rollback_error = *error;
  td.ids = std::move(started);
  StartTeardown(std::move(td), milliseconds(0));  // SIGKILL at once
}

void Supervisor::HandleTerminate(uint64_t req, bool all, std::vector<std::string> ids,
                                 int64_t grace_ms) {
  if (!all) {
    for (const std::string& id : ids) {
      if (!workers_.contains(id)) return Reply(req, 0, NotFound("no worker '" + id + "'"));
    }
  }
  milliseconds grace(std::clamp<int64_t>(grace_ms, 0, kMaxGrace.count()));
  Teardown td;
  td.req = req;
  td.all = all;
  td.ids = std::move(ids);
  StartTeardown(std::move(td), grace);
}

void Supervisor::Reply(uint64_t req, int32_t value, const Status& status) {
  Send(WireWriter(MsgType::kReply)
           .U64(req)
           .I32(value)
           .U8(static_cast<uint8_t>(status.code()))
           .Str(status.message())
           .Finish());
}

void Supervisor::ReplySpawned(uint64_t req, const std::vector<int32_t>& pids,
                              const Status& status) {
  Send(WireWriter(MsgType::kSpawned)
           .U64(req)
           .U8(static_cast<uint8_t>(status.code()))
           .Str(status.message())
           .I32s(pids)
           .Finish());
}

}  // namespace berth::runtime::local
