// Reader's field readers: the experiment, its cluster, roles and their specs.

#include <optional>
#include <string>
#include <utility>

#include "common/text.h"
#include "formats/experiment_yaml_reader.h"
#include "placement/label_selector.h"
#include "roles/limits.h"

namespace berth::formats {

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

Result<std::vector<std::pair<std::string, std::string>>> Reader::StringMap(
    const Node& n, const std::string& path, const std::string& expected) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsMap()) return TypeErr(n, path, expected);
  Mark(path, n);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const Node key = it->first;
    BERTH_RETURN_IF_ERROR(Tick(key, path));
    if (!key.IsScalar()) return Err(key, path, "keys must be plain names, got " + Preview(key));
    const std::string& k = key.Scalar();
    for (const auto& kv : out) {
      if (kv.first == k) {
        return Err(key, path, "key " + Preview(key) + " appears more than once; give each once");
      }
    }
    Mark(path + "." + k, key);  // errors about the name point at the name
    BERTH_ASSIGN_OR_RETURN(std::string value, String(it->second, path + "." + k, "a string"));
    out.emplace_back(k, std::move(value));
  }
  return out;
}

Result<SchedulingSpec> Reader::ReadSpec(const Node& n, const std::string& path, bool launcher) {
  BERTH_ASSIGN_OR_RETURN(
      Entries m, Map(n, path, {"cpu", "gpu", "mem", "ports", "cmd", "env_vars", "node_selector"},
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
  if (cmd && launcher) {
    return Err(*cmd, path + ".cmd",
               "is given beside launcher, which renders the command; remove cmd and put the "
               "program's own arguments in launcher.args (or its entry point in "
               "launcher.program)");
  }
  if (!cmd && !launcher) {
    return Err(n, path + ".cmd",
               "required key is missing; give the worker's argv, like [python, -m, my.server]");
  }
  if (cmd) {
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
  }
  if (auto v = Get(m, "env_vars")) {
    // Names are checked by ValidateExperiment; only the shape here (keys may
    // be anything the YAML allows, so no allow-list).
    BERTH_ASSIGN_OR_RETURN(s.env_vars, StringMap(*v, path + ".env_vars",
                                                 "a map of names to strings, like {KEY: value}"));
  }
  if (auto v = Get(m, "node_selector")) {
    const std::string p = path + ".node_selector";
    BERTH_ASSIGN_OR_RETURN(
        auto pairs,
        StringMap(*v, p, R"x(a map of node labels to "v", "!v", "in(a,b)" or "!in(a,b)")x"));
    s.node_selector.insert(pairs.begin(), pairs.end());
    if (Result<std::vector<placement::LabelTerm>> terms =
            placement::ParseLabelSelector(s.node_selector, p);
        !terms) {
      return Err(*v, "", terms.error().message());  // it names the path
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

Status Reader::ReadFailurePolicy(const Entries& m, const std::string& path, RoleSpec& role) {
  FailurePolicy& f = role.on_failure;
  std::optional<Node> action = Get(m, "on_failure");
  std::optional<Node> restart = Get(m, "restart");
  std::optional<Node> min = Get(m, "min_replicas");
  if (role.colocation) {
    for (const auto& [key, v] :
         {std::pair{"on_failure", action}, {"restart", restart}, {"min_replicas", min}}) {
      if (v) {
        return Err(*v, path + "." + key,
                   "a colocated role is restarted and dropped with its target; give the policy "
                   "to role " +
                       common::Quote(role.colocation->target) + " and remove it here");
      }
    }
  }
  if (action) {
    BERTH_ASSIGN_OR_RETURN(std::string a,
                           String(*action, path + ".on_failure", "fail, restart or drop"));
    if (a == "restart") {
      f.action = FailurePolicy::Action::kRestart;
    } else if (a == "drop") {
      f.action = FailurePolicy::Action::kDrop;
    } else if (a != "fail") {
      return Err(*action, path + ".on_failure",
                 "unknown action " + Preview(*action) + "; allowed: fail, restart, drop");
    }
  }
  if (restart) {
    const std::string p = path + ".restart";
    if (f.action != FailurePolicy::Action::kRestart) {
      return Err(*restart, p,
                 "only applies to on_failure: restart; remove it, or set on_failure: restart");
    }
    BERTH_ASSIGN_OR_RETURN(Entries r,
                           Map(*restart, p, {"max_restarts", "window_s", "backoff_s"},
                               "a map like {max_restarts: 5, window_s: 3600, backoff_s: [1, 60]}"));
    if (auto v = Get(r, "max_restarts")) {
      BERTH_ASSIGN_OR_RETURN(int64_t n, Integer(*v, p + ".max_restarts", 0, roles::kMaxRestarts));
      f.max_restarts = static_cast<int>(n);
    }
    if (auto v = Get(r, "window_s")) {
      BERTH_ASSIGN_OR_RETURN(f.window_s, Seconds(*v, p + ".window_s"));
    }
    if (auto v = Get(r, "backoff_s")) {
      const std::string b = p + ".backoff_s";
      BERTH_RETURN_IF_ERROR(Tick(*v, b));
      if (!v->IsSequence() || v->size() != 2) {
        return TypeErr(*v, b,
                       "[first, most]: the first wait in seconds and the longest, like [1, 60]");
      }
      BERTH_ASSIGN_OR_RETURN(f.backoff_initial_s, Seconds((*v)[0], b + "[0]"));
      BERTH_ASSIGN_OR_RETURN(f.backoff_max_s, Seconds((*v)[1], b + "[1]"));
    }
  }
  if (min) {
    BERTH_ASSIGN_OR_RETURN(int64_t n,
                           Integer(*min, path + ".min_replicas", 1, roles::kMaxReplicas));
    f.min_replicas = static_cast<int>(n);
  }
  return Status::Ok();
}

Result<RoleSpec> Reader::ReadRole(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Entries m,
                         Map(n, path,
                             {"name", "replicas", "placement", "instance", "scheduling_spec",
                              "scheduling_strategy", "readiness", "startup_timeout", "on_failure",
                              "restart", "min_replicas", "launcher", "topology"},
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
    int64_t tp = 1;
    int64_t pp = 1;
    if (auto t = Get(inst, "tp")) {
      BERTH_ASSIGN_OR_RETURN(tp, Integer(*t, p + ".tp", 1, roles::kMaxInstance));
    }
    if (auto t = Get(inst, "pp")) {
      BERTH_ASSIGN_OR_RETURN(pp, Integer(*t, p + ".pp", 1, roles::kMaxInstance));
    }
    role.instance = std::make_pair(static_cast<int>(tp), static_cast<int>(pp));
  }
  if (auto v = Get(m, "launcher")) {
    BERTH_ASSIGN_OR_RETURN(role.launcher, ReadLauncher(*v, path + ".launcher"));
  }
  const bool launcher = role.launcher.has_value();
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
            ReadSpec((*v)[i], v->size() == 1 ? p : p + "[" + std::to_string(i) + "]", launcher));
        role.tasks.push_back(std::move(s));
      }
    } else {
      BERTH_ASSIGN_OR_RETURN(SchedulingSpec s, ReadSpec(*v, p, launcher));
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
  if (auto v = Get(m, "topology")) {
    if (colocated) {
      return Err(*v, path + ".topology",
                 "a colocated role is placed in its target's groups; put the topology on the "
                 "target");
    }
    BERTH_ASSIGN_OR_RETURN(role.topology, ReadTopology(*v, path + ".topology"));
  }
  BERTH_RETURN_IF_ERROR(ReadFailurePolicy(m, path, role));
  return role;
}

Result<Topology> Reader::ReadTopology(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Entries m,
                         Map(n, path, {"key", "mode"}, "a map like {key: rack, mode: require}"));
  Topology t;
  std::optional<Node> key = Get(m, "key");
  if (!key) {
    return Err(n, path + ".key", "required key is missing; name the node label, such as rack");
  }
  BERTH_ASSIGN_OR_RETURN(t.key, String(*key, path + ".key", "a node label name"));
  if (auto v = Get(m, "mode")) {
    BERTH_ASSIGN_OR_RETURN(std::string mode, String(*v, path + ".mode", "prefer or require"));
    Result<Topology::Mode> parsed = ParseTopologyMode(mode, path + ".mode");
    if (!parsed) return Err(*v, "", parsed.error().message());  // it names the path
    t.mode = *parsed;
  }
  return t;
}

Result<ExperimentSpec> Reader::Read(const Node& root) {
  BERTH_ASSIGN_OR_RETURN(
      Entries top,
      Map(root, "", {"name", "cluster", "roles", "run_dir", "backend", "slurm", "groups"},
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
      // Named, not just unknown: experiments written for earlier berths have it.
      return Err(*r, "slurm.restarts_on_node_failure",
                 "is replaced by each role's on_failure: a lost node restarts the units that "
                 "stood on it (docs/experiment.md, \"When a worker fails\"); remove the key and "
                 "give the roles `on_failure: restart`");
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
  if (auto groups = Get(top, "groups")) {
    BERTH_ASSIGN_OR_RETURN(e.comm_groups, ReadCommGroups(*groups));
  }
  return e;
}

}  // namespace berth::formats
