#include "formats/run_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

Status WriteState(const RunState& state) {
  const std::string path = StatePath(state.run_dir);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const std::string text = RunStateToJson(state, PortShape::kList).dump(2) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return BackendError(tmp + ": cannot write: " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return BackendError(tmp + ": write failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  // The rename is atomic; fsync first so a crash never leaves an empty file.
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return BackendError(path + ": rename failed: " + std::strerror(err));
  }
  return Status::Ok();
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

}  // namespace berth::formats
