// ProcessSupervisor's calls (spawn, wait for exits, terminate, shut down) over its connection.

#include "runtime/local/supervisor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <mutex>
#include <set>
#include <vector>

#include "runtime/local/supervisor_impl.h"
#include "runtime/local/wire.h"

namespace berth {
namespace {

Result<std::string> Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char buf[4096];
  if (getcwd(buf, sizeof buf) == nullptr) return BackendError("getcwd: " + ErrnoText(errno));
  std::string cwd(buf);
  if (path.empty() || path == ".") return cwd;
  return cwd + "/" + path;
}

}  // namespace

ProcessSupervisor::ProcessSupervisor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessSupervisor::~ProcessSupervisor() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  (void)impl_->DoShutdown(impl_->opts.grace);
}

Result<int> ProcessSupervisor::Spawn(const LaunchSpec& spec) {
  BERTH_ASSIGN_OR_RETURN(std::vector<int> pids, SpawnMany({spec}));
  return pids.at(0);
}

Result<std::vector<int>> ProcessSupervisor::SpawnMany(const std::vector<LaunchSpec>& specs) {
  std::set<std::string> ids;
  for (const LaunchSpec& spec : specs) {
    BERTH_RETURN_IF_ERROR(spec.Validate());
    if (!ids.insert(spec.id).second) {
      return InvalidSpec("worker id '" + spec.id + "' appears twice in the batch");
    }
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  if (s.shut_down || s.eof) return s.Gone();
  for (const LaunchSpec& spec : specs) {
    if (s.workers.contains(spec.id)) {
      return InvalidSpec("worker id '" + spec.id + "' is already in use");
    }
  }
  if (specs.empty()) return std::vector<int>{};
  uint64_t req = s.next_req++;
  WireWriter w(MsgType::kSpawn);
  w.U64(req).U32(static_cast<uint32_t>(specs.size()));
  for (const LaunchSpec& spec : specs) {
    BERTH_ASSIGN_OR_RETURN(std::string cwd, Absolute(spec.cwd));
    std::string log;
    std::string merged;
    std::string root;
    if (!spec.log_path.empty()) {
      BERTH_ASSIGN_OR_RETURN(log, Absolute(spec.log_path));
    }
    if (!spec.merged_log_path.empty()) {
      BERTH_ASSIGN_OR_RETURN(merged, Absolute(spec.merged_log_path));
    }
    if (!spec.log_root.empty()) {
      BERTH_ASSIGN_OR_RETURN(root, Absolute(spec.log_root));
    }
    w.Str(spec.id).Strs(spec.argv).Pairs(spec.env).Str(cwd).Str(log).Str(merged).Str(root);
  }
  // Bounds: each child's fork-to-exec (spawn_timeout, windows of children at
  // a time), then undoing a failed batch (kill_timeout).
  const auto windows = static_cast<int64_t>((specs.size() + 7) / 8);  // the smallest window
  const milliseconds timeout = s.opts.spawn_timeout * windows + s.opts.kill_timeout + kReplySlack +
                               milliseconds(10) * static_cast<int64_t>(specs.size());
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep, s.Call(w.Finish(), req, timeout));
  if (!rep.status.ok()) return rep.status;
  if (rep.values.size() != specs.size()) {
    return Internal("the process supervisor answered " + std::to_string(rep.values.size()) +
                    " pids for " + std::to_string(specs.size()) + " workers");
  }
  std::vector<int> pids(rep.values.begin(), rep.values.end());
  for (size_t i = 0; i < specs.size(); ++i) {
    // An exit event read in the same batch as the reply already made the entry.
    s.workers.try_emplace(specs[i].id, Impl::WorkerState{pids[i], true});
  }
  return pids;
}

std::vector<ExitEvent> ProcessSupervisor::PollExits() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ReadAvailable();
  std::vector<ExitEvent> out(std::make_move_iterator(impl_->exits.begin()),
                             std::make_move_iterator(impl_->exits.end()));
  impl_->exits.clear();
  return out;
}

Result<std::optional<ExitEvent>> ProcessSupervisor::WaitExit(milliseconds timeout) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    s.ReadAvailable();
    if (!s.exits.empty()) {
      ExitEvent e = std::move(s.exits.front());
      s.exits.pop_front();
      return std::optional<ExitEvent>(std::move(e));
    }
    if (s.eof || s.fd < 0) return s.Gone();
    if (SteadyClock::now() >= deadline) return std::optional<ExitEvent>();
    if (s.PumpOrWake(deadline)) {
      s.ReadAvailable();  // an exit that came with the wake is not left waiting
      if (!s.exits.empty()) continue;
      return std::optional<ExitEvent>();
    }
  }
}

void ProcessSupervisor::Wake() {
  if (impl_->wake_write < 0) return;
  const char byte = 1;
  // Non-blocking: a full pipe already holds a wake.
  const ssize_t written = write(impl_->wake_write, &byte, 1);
  (void)written;
}

Status ProcessSupervisor::Terminate(const std::string& id, milliseconds grace) {
  return TerminateMany({id}, grace);
}

Status ProcessSupervisor::TerminateMany(const std::vector<std::string>& ids, milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  for (const std::string& id : ids) {
    if (!s.workers.contains(id)) return NotFound("no worker '" + id + "'");
  }
  if (ids.empty()) return Status::Ok();
  if (s.shut_down || s.eof) return s.Gone();
  grace = std::clamp(grace, milliseconds(0), milliseconds(600'000));
  uint64_t req = s.next_req++;
  std::string frame =
      WireWriter(MsgType::kTerminate).U64(req).U8(0).Strs(ids).I64(grace.count()).Finish();
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep,
                         s.Call(frame, req, grace + s.opts.kill_timeout + kReplySlack));
  return rep.status;
}

Status ProcessSupervisor::TerminateAll(milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& s = *impl_;
  if (s.shut_down || s.eof) return s.Gone();
  grace = std::clamp(grace, milliseconds(0), milliseconds(600'000));
  uint64_t req = s.next_req++;
  std::string frame =
      WireWriter(MsgType::kTerminate).U64(req).U8(1).Strs({}).I64(grace.count()).Finish();
  BERTH_ASSIGN_OR_RETURN(Impl::Reply rep,
                         s.Call(frame, req, grace + s.opts.kill_timeout + kReplySlack));
  return rep.status;
}

Status ProcessSupervisor::Shutdown(milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->DoShutdown(std::clamp(grace, milliseconds(0), milliseconds(600'000)));
}

int ProcessSupervisor::pid(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->workers.find(id);
  return it == impl_->workers.end() ? -1 : it->second.pid;
}

bool ProcessSupervisor::alive(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ReadAvailable();
  auto it = impl_->workers.find(id);
  return it != impl_->workers.end() && it->second.alive;
}

int ProcessSupervisor::supervisor_pid() const { return impl_->pid; }

const std::string& ProcessSupervisor::token() const { return impl_->token; }

const std::string& ProcessSupervisor::cgroup() const { return impl_->cgroup; }

const std::string& ProcessSupervisor::cgroup_unavailable() const {
  return impl_->cgroup_unavailable;
}

}  // namespace berth
