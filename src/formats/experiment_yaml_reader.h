#pragma once
// Reader: reads an experiment's YAML nodes as typed, bounded values, with errors at their line.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/experiment.h"
#include "berth/status.h"
#include "formats/experiment_yaml.h"

namespace berth::formats {

using YAML::Node;

// A scalar (or a hint of a container) for an error message.
std::string Preview(const Node& n);

class Reader {
 public:
  explicit Reader(std::string_view file) : file_(file) {}

  Result<ExperimentSpec> Read(const Node& root);
  // One role map; `path` prefixes its fields in errors ("roles[2]").
  Result<RoleSpec> ReadRole(const Node& n, const std::string& path);
  // The experiment's `groups` (experiment_yaml_groups.cc).
  Result<std::vector<CommGroupSpec>> ReadCommGroups(const Node& n);
  // Places an error of ValidateExperiment ("path: message") at its field.
  Status Locate(const Status& s) const;

 private:
  std::string Where(const YAML::Mark& m) const {
    if (m.is_null() || m.line < 0) return std::string(file_) + ": ";
    return std::string(file_) + ":" + std::to_string(m.line + 1) + ":" +
           std::to_string(m.column + 1) + ": ";
  }
  Status Err(const Node& n, const std::string& path, const std::string& what) const {
    return InvalidSpec(Where(n.Mark()) + (path.empty() ? "" : path + ": ") + what);
  }
  Status TypeErr(const Node& n, const std::string& path, const std::string& expected) const {
    return Err(n, path, "must be " + expected + ", got " + Preview(n));
  }

  // Counts what is read, aliases included (see kMaxExperimentValues).
  Status Tick(const Node& n, const std::string& path) {
    if (++values_ > kMaxExperimentValues) {
      return Err(n, path,
                 "the file expands to more than " + std::to_string(kMaxExperimentValues) +
                     " values (through YAML aliases?); write a smaller experiment");
    }
    if (n.IsScalar()) scalar_bytes_ += n.Scalar().size();
    if (scalar_bytes_ > kMaxExperimentScalarBytes) {
      return Err(n, path,
                 "the file expands to more than " +
                     std::to_string(kMaxExperimentScalarBytes >> 20) +
                     " MiB of text (through YAML aliases?); write a smaller experiment");
    }
    return Status::Ok();
  }

  void Mark(const std::string& path, const Node& n) {
    const YAML::Mark m = n.Mark();
    if (!m.is_null()) marks_.emplace(path, m);
  }

  // A map's entries by key, after checking that the keys are plain, known
  // and given once.
  using Entries = std::vector<std::pair<std::string, Node>>;
  Result<Entries> Map(const Node& n, const std::string& path,
                      std::initializer_list<std::string_view> allowed, const std::string& expected);
  static std::optional<Node> Get(const Entries& e, std::string_view key) {
    for (const auto& [k, v] : e) {
      if (k == key) return v;
    }
    return std::nullopt;
  }

  Result<std::string> String(const Node& n, const std::string& path, const std::string& what);
  Result<Quantity> Number(const Node& n, const std::string& path);
  Result<int64_t> Integer(const Node& n, const std::string& path, int64_t lo, int64_t hi);
  Result<bool> Bool(const Node& n, const std::string& path);
  Result<double> Seconds(const Node& n, const std::string& path);
  // A map of string keys to strings, in file order, each key once
  // (env_vars, node_selector); `expected` describes it in errors.
  Result<std::vector<std::pair<std::string, std::string>>> StringMap(const Node& n,
                                                                     const std::string& path,
                                                                     const std::string& expected);

  Status ReadCluster(const Node& n, ExperimentSpec& e);
  // `launcher`: the role has a launch preset, which renders the argv (so
  // cmd is not required, and is refused).
  Result<SchedulingSpec> ReadSpec(const Node& n, const std::string& path, bool launcher);
  Result<Topology> ReadTopology(const Node& n, const std::string& path);
  // The role's `launcher` map (experiment_yaml_launcher.cc).
  Result<LauncherSpec> ReadLauncher(const Node& n, const std::string& path);
  // A list of strings (launcher.program, launcher.args).
  Result<std::vector<std::string>> Words(const Node& n, const std::string& path,
                                         const std::string& expected);
  Result<Readiness> ReadReadiness(const Node& n, const std::string& path);
  Result<Colocation> ReadStrategy(const Node& n, const std::string& path, bool* colocated);
  // on_failure, restart and min_replicas of the role map `m` (at `path`).
  Status ReadFailurePolicy(const Entries& m, const std::string& path, RoleSpec& role);

  std::string_view file_;
  size_t values_ = 0;
  size_t scalar_bytes_ = 0;
  std::map<std::string, YAML::Mark> marks_;  // field path -> where it is written
};

}  // namespace berth::formats
