#include "formats/run_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/fd_io.h"
#include "common/safe_open.h"

namespace berth::formats {

const char* WorkerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kPlanned:
      return "planned";
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kReady:
      return "ready";
    case WorkerState::kExited:
      return "exited";
    case WorkerState::kFailed:
      return "failed";
    case WorkerState::kStopping:
      return "stopping";
    case WorkerState::kStopped:
      return "stopped";
  }
  return "?";
}

namespace {

Result<WorkerState> ParseWorkerState(const std::string& s) {
  for (WorkerState w :
       {WorkerState::kPlanned, WorkerState::kStarting, WorkerState::kReady, WorkerState::kExited,
        WorkerState::kFailed, WorkerState::kStopping, WorkerState::kStopped}) {
    if (s == WorkerStateName(w)) return w;
  }
  return InvalidSpec("unknown worker state \"" + s + "\"");
}

}  // namespace

nlohmann::ordered_json RunStateToJson(const RunState& state, PortShape shape) {
  nlohmann::ordered_json workers = nlohmann::ordered_json::array();
  for (const WorkerRecord& w : state.workers) {
    nlohmann::ordered_json ports = shape == PortShape::kMap ? nlohmann::ordered_json::object()
                                                            : nlohmann::ordered_json::array();
    for (const auto& [name, port] : w.ports) {
      if (shape == PortShape::kMap) {
        ports[name] = port;
      } else {
        ports.push_back({{"name", name}, {"port", port}});
      }
    }
    nlohmann::ordered_json j;
    j["id"] = w.id;
    j["role"] = w.role;
    j["index"] = w.index;
    j["node"] = w.node;
    j["gpus"] = w.gpus;
    j["ports"] = ports;
    j["pid"] = w.pid;
    j["state"] = WorkerStateName(w.state);
    j["restarts"] = w.restarts;
    j["exit"] = w.exit;
    j["log"] = w.log;
    workers.push_back(std::move(j));
  }
  nlohmann::ordered_json j;
  j["experiment"] = state.experiment;
  j["run_dir"] = state.run_dir;
  j["berth_pid"] = state.berth_pid;
  j["phase"] = state.phase;
  j["message"] = state.message;
  if (!state.cgroup.empty()) j["cgroup"] = state.cgroup;
  if (!state.slurm_job.empty()) j["slurm_job"] = state.slurm_job;
  if (!state.further_slurm_jobs.empty()) {
    nlohmann::ordered_json further = nlohmann::ordered_json::array();
    for (const FurtherSlurmJob& f : state.further_slurm_jobs) {
      further.push_back({{"id", f.id}, {"dir", f.dir}});
    }
    j["further_slurm_jobs"] = further;
  }
  j["workers"] = workers;
  return j;
}

Result<RunState> RunStateFromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return InvalidSpec(where + ": not a berth state");
  RunState s;
  try {
    s.experiment = j.at("experiment").get<std::string>();
    s.run_dir = j.at("run_dir").get<std::string>();
    s.berth_pid = j.at("berth_pid").get<int>();
    s.phase = j.at("phase").get<std::string>();
    s.message = j.value("message", "");
    s.cgroup = j.value("cgroup", "");
    s.slurm_job = j.value("slurm_job", "");
    if (j.contains("further_slurm_jobs")) {
      for (const auto& f : j.at("further_slurm_jobs")) {
        s.further_slurm_jobs.push_back(
            {f.at("id").get<std::string>(), f.at("dir").get<std::string>()});
      }
    }
    for (const auto& w : j.at("workers")) {
      WorkerRecord r;
      r.id = w.at("id").get<std::string>();
      r.role = w.at("role").get<std::string>();
      r.index = w.at("index").get<int>();
      r.node = w.at("node").get<std::string>();
      r.gpus = w.at("gpus").get<std::string>();
      const auto& ports = w.at("ports");
      if (ports.is_object()) {
        for (const auto& [name, port] : ports.items()) r.ports.emplace_back(name, port.get<int>());
      } else {
        for (const auto& p : ports) {
          r.ports.emplace_back(p.at("name").get<std::string>(), p.at("port").get<int>());
        }
      }
      r.pid = w.at("pid").get<int>();
      auto st = ParseWorkerState(w.at("state").get<std::string>());
      if (!st) return InvalidSpec(where + ": worker " + r.id + ": " + st.error().message());
      r.state = *st;
      r.restarts = w.at("restarts").get<int>();
      r.exit = w.at("exit").get<std::string>();
      r.log = w.at("log").get<std::string>();
      s.workers.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidSpec(where + ": not a berth state (" + e.what() + ")");
  }
  return s;
}

std::string StatePath(const std::string& run_dir) { return run_dir + "/state.json"; }

Status WriteState(const RunState& state, int run_dir_fd) {
  common::UniqueFd opened;
  if (run_dir_fd < 0) {
    BERTH_ASSIGN_OR_RETURN(opened, common::OpenDirectory(state.run_dir, false, 0));
    run_dir_fd = opened.get();
  }
  const std::string name = "state.json";
  const std::string tmp = name + ".tmp." + std::to_string(getpid());
  const std::string text = RunStateToJson(state, PortShape::kList).dump(2) + "\n";
  BERTH_ASSIGN_OR_RETURN(
      common::UniqueFd fd,
      common::OpenFileBeneath(run_dir_fd, tmp, common::WriteMode::kTruncate, 0644, state.run_dir));
  Status written = common::WriteAll(fd.get(), text, state.run_dir + "/" + tmp);
  // The rename is atomic; fsync first so a crash never leaves an empty file.
  if (written.ok()) ::fsync(fd.get());
  fd = common::UniqueFd();
  if (written.ok()) written = common::RenameBeneath(run_dir_fd, tmp, name, state.run_dir);
  if (!written.ok()) ::unlinkat(run_dir_fd, tmp.c_str(), 0);
  return written;
}

Result<RunState> ReadState(const std::string& run_dir) {
  const std::string path = StatePath(run_dir);
  std::ifstream in(path);
  if (!in) {
    return NotFound(path + ": cannot read (" + std::strerror(errno) +
                    "); is RUN_DIR a directory that `berth run` created?");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidSpec(path + ": not a berth state file");
  return RunStateFromJson(j, path);
}

std::string RenderTable(const RunState& state) {
  std::vector<std::vector<std::string>> rows = {
      {"ROLE", "ID", "NODE", "GPUS", "PID", "PORTS", "STATE", "RESTARTS"}};
  for (const WorkerRecord& w : state.workers) {
    std::string ports;
    for (const auto& [name, port] : w.ports) {
      ports += (ports.empty() ? "" : ",") + name + "=" + std::to_string(port);
    }
    std::string st = WorkerStateName(w.state);
    if (!w.exit.empty()) st += " (" + w.exit + ")";
    rows.push_back({w.role, w.id, w.node, w.gpus.empty() ? "-" : w.gpus,
                    w.pid > 0 ? std::to_string(w.pid) : "-", ports.empty() ? "-" : ports, st,
                    std::to_string(w.restarts)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string RenderRoleHealth(const RunState& state) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const WorkerRecord*>> by_role;
  for (const WorkerRecord& w : state.workers) {
    if (!by_role.contains(w.role)) order.push_back(w.role);
    by_role[w.role].push_back(&w);
  }
  std::string out;
  for (const std::string& role : order) {
    int ready = 0;
    int done = 0;
    int failed = 0;
    int restarts = 0;
    const auto& ws = by_role[role];
    for (const WorkerRecord* w : ws) {
      ready += w->state == WorkerState::kReady ? 1 : 0;
      done += w->state == WorkerState::kExited ? 1 : 0;
      failed += w->state == WorkerState::kFailed ? 1 : 0;
      restarts += w->restarts;
    }
    const int n = static_cast<int>(ws.size());
    const char* health = ready == n                 ? "ok"
                         : done == n                ? "done"
                         : ready == 0 && failed > 0 ? "failed"
                         : ready + done > 0         ? "degraded"
                                                    : "starting";
    out += "  " + role + ": " + health + " (" + std::to_string(ready) + " of " + std::to_string(n) +
           " ready";
    if (restarts > 0) out += ", " + std::to_string(restarts) + " restart(s)";
    out += ")\n";
  }
  return out.empty() ? out : "roles:\n" + out;
}

}  // namespace berth::formats
