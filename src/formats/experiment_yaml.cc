#include "formats/experiment_yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "roles/limits.h"

namespace berth {
namespace formats {
namespace {

using YAML::Node;
using YAML::NodeType;

// A scalar (or a hint of a container) for an error message.
std::string Preview(const Node& n) {
  switch (n.Type()) {
    case NodeType::Map:
      return n.size() == 0 ? "{}" : "{...}";
    case NodeType::Sequence:
      return n.size() == 0 ? "[]" : "[...]";
    case NodeType::Scalar:
      break;
    default:
      return "null";
  }
  constexpr size_t kMax = 60;
  const std::string& s = n.Scalar();
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

bool IsPlain(const Node& n) { return n.Tag() == "?"; }

// YAML 1.2 core schema numbers, without .inf/.nan (not quantities).
bool LooksLikeInteger(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return i < s.size() &&
         std::all_of(s.begin() + i, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool LooksLikeNumber(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

// Where a byte sequence stops being UTF-8 (YAML text must be Unicode), or npos.
size_t InvalidUtf8At(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Counts the documents of a YAML stream, stopping at two. yaml-cpp 0.7's
// LoadAll never returns on a document followed by stray text such as
// '"a",' (it yields empty documents forever), so berth counts with its own
// bounded loop and then loads the first document alone.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  YAML::Mark second = YAML::Mark::null_mark();  // where the second one starts

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

class Reader {
 public:
  explicit Reader(std::string_view file) : file_(file) {}

  Result<ExperimentSpec> Read(const Node& root);
  // One role map; `path` prefixes its fields in errors ("roles[2]").
  Result<RoleSpec> ReadRole(const Node& n, const std::string& path);
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

  Status ReadCluster(const Node& n, ExperimentSpec& e);
  Result<SchedulingSpec> ReadSpec(const Node& n, const std::string& path);
  Result<Readiness> ReadReadiness(const Node& n, const std::string& path);
  Result<Colocation> ReadStrategy(const Node& n, const std::string& path, bool* colocated);

  std::string_view file_;
  size_t values_ = 0;
  size_t scalar_bytes_ = 0;
  std::map<std::string, YAML::Mark> marks_;  // field path -> where it is written
};

std::string JoinKeys(std::initializer_list<std::string_view> keys) {
  std::string s;
  for (std::string_view k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

Result<Reader::Entries> Reader::Map(const Node& n, const std::string& path,
                                    std::initializer_list<std::string_view> allowed,
                                    const std::string& expected) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsMap()) return TypeErr(n, path, expected);
  Mark(path, n);
  Entries out;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const Node key = it->first;
    if (!key.IsScalar()) return Err(key, path, "keys must be plain names, got " + Preview(key));
    const std::string& k = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Err(key, path, "unknown key " + Preview(key) + "; allowed: " + JoinKeys(allowed));
    }
    if (Get(out, k)) {
      return Err(key, path, "key " + Preview(key) + " appears more than once; give each key once");
    }
    out.emplace_back(k, it->second);
    Mark((path.empty() ? "" : path + ".") + k, it->second.IsNull() ? key : it->second);
  }
  return out;
}

Result<std::string> Reader::String(const Node& n, const std::string& path,
                                   const std::string& what) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsScalar()) {
    return TypeErr(n, path, what + (n.IsNull() ? " (write \"\" for an empty string)" : ""));
  }
  Mark(path, n);
  return n.Scalar();
}

Result<Quantity> Reader::Number(const Node& n, const std::string& path) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  const bool plain = n.IsScalar() && (IsPlain(n) || n.Tag() == "tag:yaml.org,2002:int" ||
                                      n.Tag() == "tag:yaml.org,2002:float");
  if (!plain || !LooksLikeNumber(n.Scalar())) {
    return TypeErr(n, path, "a number >= 0, like 2 or 0.5");
  }
  Mark(path, n);
  const std::string& s = n.Scalar();
  errno = 0;
  const double d = std::strtod(s.c_str(), nullptr);
  if (s[0] == '-' && d != 0) {
    return Err(n, path, s + " is negative; give a number >= 0");
  }
  if (errno == ERANGE && d != 0) return Err(n, path, s + " is above the maximum 1e14");
  Result<Quantity> q = Quantity::FromDouble(d, path);
  if (!q) return InvalidSpec(Where(n.Mark()) + q.error().message());
  return q;
}

Result<int64_t> Reader::Integer(const Node& n, const std::string& path, int64_t lo, int64_t hi) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  const bool plain = n.IsScalar() && (IsPlain(n) || n.Tag() == "tag:yaml.org,2002:int");
  if (!plain || !LooksLikeInteger(n.Scalar())) {
    return TypeErr(n, path, "a whole number in " + range);
  }
  Mark(path, n);
  errno = 0;
  const long long v = std::strtoll(n.Scalar().c_str(), nullptr, 10);
  if (errno == ERANGE || v < lo || v > hi) {
    return Err(n, path, n.Scalar() + " is outside " + range);
  }
  return static_cast<int64_t>(v);
}

Result<bool> Reader::Bool(const Node& n, const std::string& path) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (n.IsScalar() && IsPlain(n)) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return TypeErr(n, path, "true or false");
}

Result<double> Reader::Seconds(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Quantity q, Number(n, path));
  if (q.IsZero()) return Err(n, path, "must be above 0 seconds");
  return q.ToDouble();
}

Status Reader::ReadCluster(const Node& n, ExperimentSpec& e) {
  const std::string path = "cluster";
  BERTH_ASSIGN_OR_RETURN(
      Entries m, Map(n, path, {"gpus", "cpu", "mem", "file"},
                     "a map like {gpus: 8} (declared on this machine) or {file: cluster.json}"));
  if (auto v = Get(m, "file")) {
    if (m.size() > 1) {
      return Err(n, path,
                 "give either file (a cluster of nodes) or gpus/cpu/mem (this machine), not both");
    }
    BERTH_ASSIGN_OR_RETURN(std::string f, String(*v, path + ".file", "a path to a cluster JSON"));
    e.cluster_file = f;
  }
  if (auto v = Get(m, "gpus")) {
    BERTH_ASSIGN_OR_RETURN(int64_t g, Integer(*v, path + ".gpus", 0, roles::kMaxLocalGpus));
    e.gpus = static_cast<int>(g);
  }
  if (auto v = Get(m, "cpu")) {
    BERTH_ASSIGN_OR_RETURN(Quantity q, Number(*v, path + ".cpu"));
    e.cpu = q;
  }
  if (auto v = Get(m, "mem")) {
    BERTH_ASSIGN_OR_RETURN(Quantity q, Number(*v, path + ".mem"));
    e.mem_gib = q;
  }
  return Status::Ok();
}

Result<SchedulingSpec> Reader::ReadSpec(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Entries m,
                         Map(n, path, {"cpu", "gpu", "mem", "ports", "cmd", "env_vars"},
                             "a map like {cpu: 1, gpu: 1, mem: 4, ports: [http], cmd: [prog]}"));
  SchedulingSpec s;
  if (auto v = Get(m, "cpu")) {
    BERTH_ASSIGN_OR_RETURN(s.cpu, Number(*v, path + ".cpu"));
  }
  if (auto v = Get(m, "gpu")) {
    BERTH_ASSIGN_OR_RETURN(s.gpu, Number(*v, path + ".gpu"));
  }
  if (auto v = Get(m, "mem")) {
    BERTH_ASSIGN_OR_RETURN(s.mem_gib, Number(*v, path + ".mem"));
  }
  if (auto v = Get(m, "ports")) {
    const std::string p = path + ".ports";
    BERTH_RETURN_IF_ERROR(Tick(*v, p));
    if (!v->IsSequence()) return TypeErr(*v, p, "a list of port names, like [http, metrics]");
    for (size_t i = 0; i < v->size(); ++i) {
      BERTH_ASSIGN_OR_RETURN(std::string name,
                             String((*v)[i], p + "[" + std::to_string(i) + "]", "a port name"));
      s.ports.push_back(std::move(name));
    }
  }
  std::optional<Node> cmd = Get(m, "cmd");
  if (!cmd) {
    return Err(n, path + ".cmd",
               "required key is missing; give the worker's argv, like [python, -m, my.server]");
  }
  const std::string cpath = path + ".cmd";
  BERTH_RETURN_IF_ERROR(Tick(*cmd, cpath));
  if (!cmd->IsSequence()) {
    return TypeErr(*cmd, cpath,
                   "a list of arguments (argv), like [python, -m, my.server]; berth runs no "
                   "shell, so split the command into words");
  }
  for (size_t i = 0; i < cmd->size(); ++i) {
    BERTH_ASSIGN_OR_RETURN(std::string arg,
                           String((*cmd)[i], cpath + "[" + std::to_string(i) + "]", "a string"));
    s.cmd.push_back(std::move(arg));
  }
  if (auto v = Get(m, "env_vars")) {
    const std::string p = path + ".env_vars";
    BERTH_RETURN_IF_ERROR(Tick(*v, p));
    if (v->IsNull()) return TypeErr(*v, p, "a map of names to strings, like {KEY: value}");
    // Names are checked by ValidateExperiment; only the shape here (keys may
    // be anything the YAML allows, so no allow-list).
    if (!v->IsMap()) return TypeErr(*v, p, "a map of names to strings, like {KEY: value}");
    Mark(p, *v);
    for (auto it = v->begin(); it != v->end(); ++it) {
      const Node key = it->first;
      BERTH_RETURN_IF_ERROR(Tick(key, p));
      if (!key.IsScalar()) return Err(key, p, "keys must be plain names, got " + Preview(key));
      const std::string& k = key.Scalar();
      for (const auto& kv : s.env_vars) {
        if (kv.first == k) {
          return Err(key, p, "key " + Preview(key) + " appears more than once; give each once");
        }
      }
      Mark(p + "." + k, key);  // errors about the name point at the name
      BERTH_ASSIGN_OR_RETURN(std::string value, String(it->second, p + "." + k, "a string"));
      s.env_vars.emplace_back(k, std::move(value));
    }
  }
  return s;
}

Result<Readiness> Reader::ReadReadiness(const Node& n, const std::string& path) {
  const std::string expected = "none, {tcp: PORT} or {http: {port: PORT, path: /health}}";
  Readiness r;
  if (n.IsScalar()) {
    BERTH_RETURN_IF_ERROR(Tick(n, path));
    if (n.Scalar() == "none") return r;
    return TypeErr(n, path, expected);
  }
  BERTH_ASSIGN_OR_RETURN(Entries m, Map(n, path, {"tcp", "http"}, expected));
  if (m.size() != 1) return Err(n, path, "give exactly one of tcp, http (or write none)");
  if (auto v = Get(m, "tcp")) {
    r.kind = Readiness::Kind::kTcp;
    BERTH_ASSIGN_OR_RETURN(r.port, String(*v, path + ".tcp", "a port name of the spec"));
    return r;
  }
  r.kind = Readiness::Kind::kHttp;
  const Node http = *Get(m, "http");
  BERTH_ASSIGN_OR_RETURN(Entries h, Map(http, path + ".http", {"port", "path"},
                                        "a map like {port: http, path: /health}"));
  std::optional<Node> port = Get(h, "port");
  if (!port) return Err(http, path + ".http.port", "required key is missing; give a port name");
  BERTH_ASSIGN_OR_RETURN(r.port, String(*port, path + ".http.port", "a port name of the spec"));
  if (auto v = Get(h, "path")) {
    BERTH_ASSIGN_OR_RETURN(r.path, String(*v, path + ".http.path", "a URL path like /health"));
  }
  return r;
}

Result<Colocation> Reader::ReadStrategy(const Node& n, const std::string& path, bool* colocated) {
  BERTH_ASSIGN_OR_RETURN(Entries m,
                         Map(n, path, {"type", "target", "fork"},
                             "a map like {type: colocation, target: actor, fork: true}"));
  std::string type = "separation";
  if (auto v = Get(m, "type")) {
    BERTH_ASSIGN_OR_RETURN(type, String(*v, path + ".type", "separation or colocation"));
    if (type != "separation" && type != "colocation") {
      return Err(*v, path + ".type",
                 "unknown type " + Preview(*v) + "; allowed: separation, colocation");
    }
  }
  Colocation c;
  *colocated = type == "colocation";
  if (!*colocated) {
    for (const char* k : {"target", "fork"}) {
      if (auto v = Get(m, k)) {
        return Err(*v, path + "." + k, "only applies to type: colocation; remove it");
      }
    }
    return c;
  }
  std::optional<Node> target = Get(m, "target");
  if (!target) {
    return Err(n, path + ".target", "required key is missing; name the role to colocate with");
  }
  BERTH_ASSIGN_OR_RETURN(c.target, String(*target, path + ".target", "a role name"));
  if (auto v = Get(m, "fork")) {
    BERTH_ASSIGN_OR_RETURN(c.fork, Bool(*v, path + ".fork"));
  }
  return c;
}

Result<RoleSpec> Reader::ReadRole(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Entries m,
                         Map(n, path,
                             {"name", "replicas", "placement", "instance", "scheduling_spec",
                              "scheduling_strategy", "readiness", "startup_timeout"},
                             "a role map with name, replicas, scheduling_spec, ..."));
  RoleSpec role;
  std::optional<Node> name = Get(m, "name");
  if (!name) return Err(n, path + ".name", "required key is missing; give the role a name");
  BERTH_ASSIGN_OR_RETURN(role.name, String(*name, path + ".name", "a role name"));
  if (auto v = Get(m, "replicas")) {
    BERTH_ASSIGN_OR_RETURN(int64_t r, Integer(*v, path + ".replicas", 1, roles::kMaxReplicas));
    role.replicas = static_cast<int>(r);
  }
  bool colocated = false;
  if (auto v = Get(m, "scheduling_strategy")) {
    BERTH_ASSIGN_OR_RETURN(Colocation c,
                           ReadStrategy(*v, path + ".scheduling_strategy", &colocated));
    if (colocated) role.colocation = c;
  }
  const bool alias = colocated && !role.colocation->fork;
  if (auto v = Get(m, "placement")) {
    const std::string p = path + ".placement";
    if (colocated) {
      return Err(*v, p, "a colocated role runs in its target's bundles; remove placement");
    }
    BERTH_ASSIGN_OR_RETURN(std::string mode, String(*v, p, "shared, separate or deferred"));
    if (mode == "shared") {
      role.placement = PlacementMode::kShared;
    } else if (mode == "separate") {
      role.placement = PlacementMode::kSeparate;
    } else if (mode == "deferred") {
      role.placement = PlacementMode::kDeferred;
    } else {
      return Err(*v, p,
                 "unknown placement " + Preview(*v) + "; allowed: shared, separate, deferred");
    }
  }
  if (auto v = Get(m, "instance")) {
    const std::string p = path + ".instance";
    BERTH_ASSIGN_OR_RETURN(Entries inst, Map(*v, p, {"tp", "pp"}, "a map like {tp: 2, pp: 1}"));
    int64_t tp = 1, pp = 1;
    if (auto t = Get(inst, "tp")) {
      BERTH_ASSIGN_OR_RETURN(tp, Integer(*t, p + ".tp", 1, roles::kMaxInstance));
    }
    if (auto t = Get(inst, "pp")) {
      BERTH_ASSIGN_OR_RETURN(pp, Integer(*t, p + ".pp", 1, roles::kMaxInstance));
    }
    role.instance = std::make_pair(static_cast<int>(tp), static_cast<int>(pp));
  }
  if (auto v = Get(m, "scheduling_spec")) {
    const std::string p = path + ".scheduling_spec";
    if (v->IsSequence()) {
      BERTH_RETURN_IF_ERROR(Tick(*v, p));
      Mark(p, *v);
      if (v->size() != 1 && v->size() != static_cast<size_t>(role.replicas)) {
        return Err(*v, p,
                   "spec count must be 1 or match replicas; got " + std::to_string(v->size()) +
                       " specs for " + std::to_string(role.replicas) + " replicas");
      }
      // One spec reads as the plain map, so that paths match the planner's.
      for (size_t i = 0; i < v->size(); ++i) {
        BERTH_ASSIGN_OR_RETURN(
            SchedulingSpec s,
            ReadSpec((*v)[i], v->size() == 1 ? p : p + "[" + std::to_string(i) + "]"));
        role.tasks.push_back(std::move(s));
      }
    } else {
      BERTH_ASSIGN_OR_RETURN(SchedulingSpec s, ReadSpec(*v, p));
      role.tasks.push_back(std::move(s));
    }
  } else if (!alias) {
    return Err(n, path + ".scheduling_spec",
               "required key is missing; give the workers' cpu, gpu, mem and cmd");
  }
  if (auto v = Get(m, "readiness")) {
    BERTH_ASSIGN_OR_RETURN(role.readiness, ReadReadiness(*v, path + ".readiness"));
  }
  if (auto v = Get(m, "startup_timeout")) {
    if (alias) {
      return Err(*v, path + ".startup_timeout",
                 "an alias (fork: false) has no process to wait for; remove it");
    }
    BERTH_ASSIGN_OR_RETURN(role.startup_timeout_s, Seconds(*v, path + ".startup_timeout"));
  }
  return role;
}

Result<ExperimentSpec> Reader::Read(const Node& root) {
  BERTH_ASSIGN_OR_RETURN(Entries top,
                         Map(root, "", {"name", "cluster", "roles", "run_dir", "backend", "slurm"},
                             "a map with name, roles and an optional cluster"));
  ExperimentSpec e;
  std::optional<Node> name = Get(top, "name");
  if (!name) return Err(root, "name", "required key is missing; name the experiment");
  BERTH_ASSIGN_OR_RETURN(e.name, String(*name, "name", "an experiment name"));
  if (auto v = Get(top, "cluster")) BERTH_RETURN_IF_ERROR(ReadCluster(*v, e));
  if (auto v = Get(top, "run_dir")) {
    BERTH_ASSIGN_OR_RETURN(e.run_dir, String(*v, "run_dir", "a folder path"));
  }
  if (auto v = Get(top, "backend")) {
    BERTH_ASSIGN_OR_RETURN(std::string b, String(*v, "backend", "local or slurm"));
    if (b == "slurm") {
      e.backend = Backend::kSlurm;
    } else if (b != "local") {
      return Err(*v, "backend", "\"" + b + "\" is not a backend; use local or slurm");
    }
  }
  if (auto v = Get(top, "slurm")) {
    BERTH_ASSIGN_OR_RETURN(
        Entries m, Map(*v, "slurm", {"partition", "queue_timeout", "restarts_on_node_failure"},
                       "a map like {partition: gpu, queue_timeout: 600}"));
    if (auto r = Get(m, "restarts_on_node_failure")) {
      BERTH_ASSIGN_OR_RETURN(int64_t n, Integer(*r, "slurm.restarts_on_node_failure", 0, 100));
      e.slurm.restarts_on_node_failure = static_cast<int>(n);
    }
    if (auto p = Get(m, "partition")) {
      BERTH_ASSIGN_OR_RETURN(e.slurm.partition, String(*p, "slurm.partition", "a partition name"));
    }
    if (auto t = Get(m, "queue_timeout")) {
      BERTH_ASSIGN_OR_RETURN(e.slurm.queue_timeout_s, Seconds(*t, "slurm.queue_timeout"));
    }
  }
  std::optional<Node> roles = Get(top, "roles");
  if (!roles) return Err(root, "roles", "required key is missing; list the roles");
  BERTH_RETURN_IF_ERROR(Tick(*roles, "roles"));
  if (!roles->IsSequence() || roles->size() == 0) {
    return TypeErr(*roles, "roles", "a non-empty list of roles");
  }
  for (size_t i = 0; i < roles->size(); ++i) {
    BERTH_ASSIGN_OR_RETURN(RoleSpec r, ReadRole((*roles)[i], "roles[" + std::to_string(i) + "]"));
    e.roles.push_back(std::move(r));
  }
  return e;
}

Status Reader::Locate(const Status& s) const {
  const std::string& msg = s.message();
  std::string path = msg.substr(0, msg.find(": "));
  // The field itself, or the nearest enclosing one that is written down (a
  // defaulted field has no line of its own).
  while (!path.empty()) {
    auto it = marks_.find(path);
    if (it != marks_.end()) return Status(s.code(), Where(it->second) + msg);
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  return Status(s.code(), std::string(file_) + ": " + msg);
}

// The checks every document gets (size, UTF-8, one YAML document), then
// `read` on its root; yaml-cpp's exceptions end here.
template <typename T, typename ReadFn>
Result<T> ReadDocument(std::string_view text, std::string_view file, ReadFn read) {
  const std::string f(file);
  if (text.size() > kMaxExperimentBytes) {
    return InvalidSpec(f + ": is " + std::to_string(text.size()) +
                       " bytes; an experiment file "
                       "is at most " +
                       std::to_string(kMaxExperimentBytes >> 10) + " KiB");
  }
  const size_t bad = InvalidUtf8At(text);
  if (bad != std::string_view::npos) {
    const size_t line = 1 + std::count(text.begin(), text.begin() + bad, '\n');
    return InvalidSpec(f + ":" + std::to_string(line) + ": byte " + std::to_string(bad) +
                       " is not UTF-8; YAML files must be UTF-8 text");
  }
  Reader reader(file);
  try {
    const std::string owned(text);
    std::istringstream stream(owned);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents == 0) return InvalidSpec(f + ": is empty");
    if (counter.documents > 1) {
      const YAML::Mark& m = counter.second;
      const std::string at = m.is_null() ? f + ": "
                                         : f + ":" + std::to_string(m.line + 1) + ":" +
                                               std::to_string(m.column + 1) + ": ";
      return InvalidSpec(at +
                         "a second YAML document starts here (after ---, or text after "
                         "the end of the first); give one document");
    }
    return read(reader, YAML::Load(owned));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return InvalidSpec(f + ": malformed YAML: " + e.msg);
    return InvalidSpec(f + ":" + std::to_string(e.mark.line + 1) + ":" +
                       std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  } catch (const std::bad_alloc&) {
    return Internal(f + ": out of memory while reading");
  } catch (const std::exception& e) {
    return InvalidSpec(f + ": cannot read the YAML: " + e.what());
  }
}

}  // namespace

Result<ExperimentSpec> ParseExperimentYaml(std::string_view text, std::string_view file) {
  return ReadDocument<ExperimentSpec>(
      text, file, [](Reader& reader, const Node& root) -> Result<ExperimentSpec> {
        BERTH_ASSIGN_OR_RETURN(ExperimentSpec e, reader.Read(root));
        Status valid = ValidateExperiment(e);
        if (!valid.ok()) return reader.Locate(valid);
        return e;
      });
}

Result<RoleSpec> ParseRoleYaml(std::string_view text, std::string_view file) {
  return ReadDocument<RoleSpec>(
      text, file, [](Reader& reader, const Node& root) { return reader.ReadRole(root, "role"); });
}

}  // namespace formats

Result<ExperimentSpec> ParseExperiment(std::string_view yaml_text, std::string_view file) {
  return formats::ParseExperimentYaml(yaml_text, file);
}

}  // namespace berth
