#include "formats/experiment_yaml.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth {
namespace {

ExperimentSpec Parse(const std::string& yaml) {
  Result<ExperimentSpec> e = ParseExperiment(yaml, "x.yaml");
  EXPECT_TRUE(e.has_value()) << e.error().ToString();
  return e ? *e : ExperimentSpec();
}

TEST(ExperimentYamlTest, Fields) {
  ExperimentSpec e = Parse(R"(
name: demo
cluster: {gpus: 8, cpu: 16, mem: 0.5}
run_dir: /tmp/runs
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec:
      cpu: 2
      gpu: 1
      mem: 1.5
      ports: [http, master]
      cmd: [prog, --role, "{BERTH_ROLE}"]
      env_vars: {Z: last, A: "1"}
    readiness: {http: {port: http, path: /ready}}
    startup_timeout: 45
  - name: rollout
    replicas: 2
    placement: separate
    instance: {tp: 2, pp: 3}
    scheduling_spec:
      - {gpu: 1, ports: [p], cmd: [a]}
      - {gpu: 0.25, ports: [p], cmd: [b]}
    readiness: {tcp: p}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor}
    scheduling_spec: {cpu: 0, cmd: [r]}
    readiness: none
  - name: critic
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor, fork: false}
)");
  EXPECT_EQ(e.name, "demo");
  EXPECT_EQ(e.gpus, 8);
  EXPECT_EQ(e.cpu, Quantity::Whole(16));
  EXPECT_EQ(e.mem_gib, *Quantity::FromDouble(0.5, ""));
  EXPECT_EQ(e.run_dir, "/tmp/runs");
  EXPECT_FALSE(e.cluster_file.has_value());
  ASSERT_EQ(e.roles.size(), 4u);

  const RoleSpec& actor = e.roles[0];
  EXPECT_EQ(actor.replicas, 2);
  EXPECT_EQ(actor.placement, PlacementMode::kShared);
  ASSERT_EQ(actor.tasks.size(), 1u);
  EXPECT_EQ(actor.tasks[0].cpu, Quantity::Whole(2));
  EXPECT_EQ(actor.tasks[0].gpu, Quantity::Whole(1));
  EXPECT_EQ(actor.tasks[0].mem_gib, *Quantity::FromDouble(1.5, ""));
  EXPECT_EQ(actor.tasks[0].ports, (std::vector<std::string>{"http", "master"}));
  EXPECT_EQ(actor.tasks[0].cmd, (std::vector<std::string>{"prog", "--role", "{BERTH_ROLE}"}));
  EXPECT_EQ(actor.tasks[0].env_vars,
            (std::vector<std::pair<std::string, std::string>>{{"Z", "last"}, {"A", "1"}}));
  EXPECT_EQ(actor.readiness.kind, Readiness::Kind::kHttp);
  EXPECT_EQ(actor.readiness.port, "http");
  EXPECT_EQ(actor.readiness.path, "/ready");
  EXPECT_EQ(actor.startup_timeout_s, 45);
  EXPECT_FALSE(actor.colocation.has_value());

  const RoleSpec& rollout = e.roles[1];
  EXPECT_EQ(rollout.placement, PlacementMode::kSeparate);
  EXPECT_EQ(rollout.instance, std::make_pair(2, 3));
  ASSERT_EQ(rollout.tasks.size(), 2u);
  EXPECT_EQ(rollout.tasks[1].gpu, *Quantity::FromDouble(0.25, ""));
  EXPECT_EQ(rollout.tasks[1].cpu, Quantity::Whole(1));  // the default
  EXPECT_EQ(rollout.readiness.kind, Readiness::Kind::kTcp);
  EXPECT_EQ(rollout.startup_timeout_s, 30);

  const RoleSpec& ref = e.roles[2];
  ASSERT_TRUE(ref.colocation.has_value());
  EXPECT_EQ(ref.colocation->target, "actor");
  EXPECT_TRUE(ref.colocation->fork);
  EXPECT_EQ(ref.readiness.kind, Readiness::Kind::kNone);

  const RoleSpec& critic = e.roles[3];
  EXPECT_FALSE(critic.colocation->fork);
  EXPECT_TRUE(critic.tasks.empty());
}

TEST(ExperimentYamlTest, ClusterFileAndDefaults) {
  ExperimentSpec e = Parse(
      "name: x\ncluster: {file: c.json}\nroles: [{name: a, scheduling_spec: "
      "{cmd: [x]}}]\n");
  EXPECT_EQ(e.cluster_file, "c.json");
  EXPECT_EQ(e.roles[0].replicas, 1);
  EXPECT_EQ(e.roles[0].placement, PlacementMode::kShared);
  EXPECT_EQ(e.roles[0].tasks[0].cpu, Quantity::Whole(1));
  EXPECT_TRUE(e.roles[0].tasks[0].gpu.IsZero());
}

TEST(ExperimentYamlTest, SlurmBackend) {
  ExperimentSpec e = Parse(
      "name: x\nbackend: slurm\nslurm: {partition: gpu, queue_timeout: 12.5}\nroles: [{name: a, "
      "scheduling_spec: {cmd: [x]}}]\n");
  EXPECT_EQ(e.backend, Backend::kSlurm);
  EXPECT_EQ(e.slurm.partition, "gpu");
  EXPECT_EQ(e.slurm.queue_timeout_s, 12.5);
  EXPECT_EQ(Parse("name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n").backend,
            Backend::kLocal);
}

TEST(ExperimentYamlTest, ScalarsAreKeptAsWritten) {
  ExperimentSpec e = Parse(R"(
name: x
roles:
  - name: a
    scheduling_spec:
      cmd: [1, 2.50, true, "null", ~x]
      env_vars:
        NUM: 007
        BOOL: yes
        LIT: |-
          a,b=c
          "d"
)");
  EXPECT_EQ(e.roles[0].tasks[0].cmd, (std::vector<std::string>{"1", "2.50", "true", "null", "~x"}));
  EXPECT_EQ(e.roles[0].tasks[0].env_vars[0].second, "007");
  EXPECT_EQ(e.roles[0].tasks[0].env_vars[1].second, "yes");
  EXPECT_EQ(e.roles[0].tasks[0].env_vars[2].second, "a,b=c\n\"d\"");
}

TEST(ExperimentYamlTest, AnchorsAndAliases) {
  ExperimentSpec e = Parse(R"(
name: x
roles:
  - {name: a, replicas: 2, scheduling_spec: &spec {gpu: 1, cmd: [x]}}
  - {name: b, scheduling_spec: *spec}
)");
  EXPECT_EQ(e.roles[1].tasks[0].gpu, Quantity::Whole(1));
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* want;  // a substring of the error
};

const BadCase kBad[] = {
    {"malformed", "name: x\nroles: [\n", "x.yaml:3:1: malformed YAML: "},
    {"empty", "", "x.yaml: is empty"},
    {"comments only", "# nothing\n", "x.yaml: is empty"},
    {"two documents", "name: x\n---\nname: y\n", "x.yaml:2:1: a second YAML document starts here"},
    // yaml-cpp 0.7's LoadAll loops forever on these (found by the fuzzer).
    {"stray comma", "\"a\",", "x.yaml:1:4: a second YAML document starts here"},
    {"stray comma after map", "{name: x},", "a second YAML document starts here"},
    {"top not a map", "- a\n", "x.yaml:1:1: must be a map with name, roles"},
    {"unknown top key", "name: x\nrolez: []\n",
     "x.yaml:2:1: unknown key \"rolez\"; allowed: name, cluster, roles, run_dir"},
    {"duplicate key", "name: x\nname: y\n", "x.yaml:2:1: key \"name\" appears more than once"},
    {"missing name", "roles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "name: required key is missing"},
    {"bad experiment name", "name: a b\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "x.yaml:1:7: name: \"a b\" is not an experiment name"},
    {"missing roles", "name: x\n", "roles: required key is missing"},
    {"empty roles", "name: x\nroles: []\n", "x.yaml:2:8: roles: must be a non-empty list"},
    {"roles not a list", "name: x\nroles: {a: 1}\n", "roles: must be a non-empty list of roles"},
    {"cluster unknown key", "name: x\ncluster: {gpu: 8}\nroles: []\n",
     "x.yaml:2:11: cluster: unknown key \"gpu\"; allowed: gpus, cpu, mem, file"},
    {"cluster file and gpus", "name: x\ncluster: {file: c.json, gpus: 8}\nroles: []\n",
     "cluster: give either file (a cluster of nodes) or gpus/cpu/mem"},
    {"cluster gpus not whole", "name: x\ncluster: {gpus: 1.5}\nroles: []\n",
     "x.yaml:2:17: cluster.gpus: must be a whole number in 0..1024, got \"1.5\""},
    {"cluster gpus too many", "name: x\ncluster: {gpus: 2000}\nroles: []\n",
     "cluster.gpus: 2000 is outside 0..1024"},
    {"cluster cpu negative", "name: x\ncluster: {cpu: -2}\nroles: []\n",
     "cluster.cpu: -2 is negative"},
    {"role not a map", "name: x\nroles: [a]\n", "roles[0]: must be a role map"},
    {"role unknown key",
     "name: x\nroles:\n  - name: a\n    replica: 2\n    scheduling_spec: {cmd: [x]}\n",
     "x.yaml:4:5: roles[0]: unknown key \"replica\"; allowed: name, replicas, placement, "
     "instance, scheduling_spec, scheduling_strategy, readiness, startup_timeout"},
    {"role missing name", "name: x\nroles: [{scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].name: required key is missing"},
    {"role bad name", "name: x\nroles: [{name: a/b, scheduling_spec: {cmd: [x]}}]\n",
     "x.yaml:2:16: roles[0].name: \"a/b\" is not a role name"},
    {"duplicate role names",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: a, "
     "scheduling_spec: {cmd: [x]}}\n",
     "x.yaml:4:12: roles[1].name: \"a\" is also the name of roles[0]; role names must be unique"},
    {"replicas zero", "name: x\nroles: [{name: a, replicas: 0, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].replicas: 0 is outside 1..65536"},
    {"replicas text", "name: x\nroles: [{name: a, replicas: two, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].replicas: must be a whole number in 1..65536, got \"two\""},
    {"replicas fraction",
     "name: x\nroles: [{name: a, replicas: 1.5, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].replicas: must be a whole number"},
    {"replicas quoted",
     "name: x\nroles: [{name: a, replicas: \"2\", scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].replicas: must be a whole number in 1..65536, got \"2\""},
    {"unknown placement",
     "name: x\nroles: [{name: a, placement: spread, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].placement: unknown placement \"spread\"; allowed: shared, separate, deferred"},
    {"instance tp zero",
     "name: x\nroles: [{name: a, instance: {tp: 0}, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].instance.tp: 0 is outside 1..65536"},
    {"instance pp zero",
     "name: x\nroles: [{name: a, instance: {tp: 2, pp: 0}, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].instance.pp: 0 is outside 1..65536"},
    {"instance unknown key",
     "name: x\nroles: [{name: a, instance: {dp: 2}, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].instance: unknown key \"dp\"; allowed: tp, pp"},
    {"instance pp text",
     "name: x\nroles: [{name: a, instance: {pp: x}, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].instance.pp: must be a whole number"},
    {"instance too big",
     "name: x\nroles: [{name: a, instance: {tp: 1024, pp: 1024}, scheduling_spec: {cmd: [x]}}]\n",
     "roles[0].instance.pp: 1024 is outside 1..65536 or tp*pp is above 65536"},
    {"missing spec", "name: x\nroles: [{name: a}]\n",
     "roles[0].scheduling_spec: required key is missing"},
    {"spec count",
     "name: x\nroles: [{name: a, replicas: 3, scheduling_spec: [{cmd: [x]}, {cmd: [y]}]}]\n",
     "roles[0].scheduling_spec: spec count must be 1 or match replicas; got 2 specs for 3 "
     "replicas"},
    {"spec empty list", "name: x\nroles: [{name: a, scheduling_spec: []}]\n",
     "spec count must be 1 or match replicas; got 0 specs for 1 replicas"},
    {"spec not a map", "name: x\nroles: [{name: a, scheduling_spec: 3}]\n",
     "roles[0].scheduling_spec: must be a map like {cpu: 1"},
    {"spec unknown key",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], port_count: 2}}]\n",
     "roles[0].scheduling_spec: unknown key \"port_count\"; allowed: cpu, gpu, mem, ports, cmd, "
     "env_vars"},
    {"cpu negative", "name: x\nroles: [{name: a, scheduling_spec: {cpu: -1, cmd: [x]}}]\n",
     "x.yaml:2:42: roles[0].scheduling_spec.cpu: -1 is negative; give a number >= 0"},
    {"cpu text", "name: x\nroles: [{name: a, scheduling_spec: {cpu: two, cmd: [x]}}]\n",
     "roles[0].scheduling_spec.cpu: must be a number >= 0, like 2 or 0.5, got \"two\""},
    {"cpu quoted", "name: x\nroles: [{name: a, scheduling_spec: {cpu: \"1\", cmd: [x]}}]\n",
     "roles[0].scheduling_spec.cpu: must be a number >= 0, like 2 or 0.5, got \"1\""},
    {"cpu inf", "name: x\nroles: [{name: a, scheduling_spec: {cpu: .inf, cmd: [x]}}]\n",
     "roles[0].scheduling_spec.cpu: must be a number"},
    {"cpu null", "name: x\nroles: [{name: a, scheduling_spec: {cpu: , cmd: [x]}}]\n",
     "roles[0].scheduling_spec.cpu: must be a number >= 0, like 2 or 0.5, got null"},
    {"gpu not whole", "name: x\nroles: [{name: a, scheduling_spec: {gpu: 1.5, cmd: [x]}}]\n",
     "x.yaml:2:42: roles[0].scheduling_spec.gpu: 1.5 is not whole"},
    {"gpu too fine", "name: x\nroles: [{name: a, scheduling_spec: {gpu: 0.00001, cmd: [x]}}]\n",
     "roles[0].scheduling_spec.gpu: 1e-05 is finer than the resolution 0.0001"},
    {"mem too big", "name: x\nroles: [{name: a, scheduling_spec: {mem: 1e9, cmd: [x]}}]\n",
     "roles[0].scheduling_spec.mem: 1000000000 GiB is outside 0..93132.2574 GiB"},
    {"all zero", "name: x\nroles: [{name: a, scheduling_spec: {cpu: 0, cmd: [x]}}]\n",
     "roles[0].scheduling_spec: cpu, gpu and mem are all 0"},
    {"missing cmd", "name: x\nroles: [{name: a, scheduling_spec: {cpu: 1}}]\n",
     "roles[0].scheduling_spec.cmd: required key is missing"},
    {"empty cmd", "name: x\nroles: [{name: a, scheduling_spec: {cmd: []}}]\n",
     "x.yaml:2:42: roles[0].scheduling_spec.cmd: is empty"},
    {"cmd string", "name: x\nroles: [{name: a, scheduling_spec: {cmd: python -m x}}]\n",
     "roles[0].scheduling_spec.cmd: must be a list of arguments (argv)"},
    {"cmd null element", "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x, ~]}}]\n",
     "roles[0].scheduling_spec.cmd[1]: must be a string (write \"\" for an empty string), got "
     "null"},
    {"cmd unclosed brace", "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x, \"{A\"]}}]\n",
     "x.yaml:2:46: roles[0].scheduling_spec.cmd[1]: '{' at offset 0 of \"{A\" is not closed"},
    {"cmd lone brace", "name: x\nroles: [{name: a, scheduling_spec: {cmd: [\"a}\"]}}]\n",
     "roles[0].scheduling_spec.cmd[0]: single '}'"},
    {"cmd nul", "name: x\nroles: [{name: a, scheduling_spec: {cmd: [\"a\\0b\"]}}]\n",
     "roles[0].scheduling_spec.cmd[0]: holds a NUL byte"},
    {"port name invalid", "name: x\nroles: [{name: a, scheduling_spec: {ports: [9x], cmd: [x]}}]\n",
     "roles[0].scheduling_spec.ports[0]: \"9x\" is not a port name"},
    {"port duplicate",
     "name: x\nroles: [{name: a, scheduling_spec: {ports: [http, http], cmd: [x]}}]\n",
     "roles[0].scheduling_spec.ports[1]: \"http\" duplicates ports[0]"},
    {"port duplicate env",
     "name: x\nroles: [{name: a, scheduling_spec: {ports: [a-b, A_B], cmd: [x]}}]\n",
     "\"A_B\" duplicates ports[0] (both become BERTH_PORT_A_B)"},
    {"ports not a list", "name: x\nroles: [{name: a, scheduling_spec: {ports: http, cmd: [x]}}]\n",
     "roles[0].scheduling_spec.ports: must be a list of port names"},
    {"env owned",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {RANK: \"3\"}}}]\n",
     "x.yaml:2:58: roles[0].scheduling_spec.env_vars.RANK: RANK is set by berth and cannot be "
     "overridden"},
    {"env owned prefix",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {BERTH_X: y}}}]\n",
     "env_vars.BERTH_X: BERTH_X is set by berth"},
    {"env cuda",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {CUDA_VISIBLE_DEVICES: "
     "\"0\"}}}]\n",
     "env_vars.CUDA_VISIBLE_DEVICES: CUDA_VISIBLE_DEVICES is set by berth"},
    {"env bad name",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {A-B: y}}}]\n",
     "roles[0].scheduling_spec.env_vars: \"A-B\" is not an environment variable name"},
    {"env null", "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {A: }}}]\n",
     "roles[0].scheduling_spec.env_vars.A: must be a string (write \"\" for an empty string), "
     "got null"},
    {"env duplicate",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {A: 1, A: 2}}}]\n",
     "roles[0].scheduling_spec.env_vars: key \"A\" appears more than once"},
    {"env map value",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {A: [1]}}}]\n",
     "roles[0].scheduling_spec.env_vars.A: must be a string, got [...]"},
    {"env nul",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {A: \"\\0\"}}}]\n",
     "roles[0].scheduling_spec.env_vars.A: holds a NUL byte"},
    {"readiness unknown port",
     "name: x\nroles: [{name: a, scheduling_spec: {ports: [http], cmd: [x]}, readiness: {tcp: "
     "grpc}}]\n",
     "roles[0].readiness.tcp: \"grpc\" is not among the ports of roles[0].scheduling_spec (http)"},
    {"readiness no ports",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, readiness: {http: {port: h}}}]\n",
     "roles[0].readiness.http.port: \"h\" is not among the ports of roles[0].scheduling_spec "
     "(none)"},
    {"readiness both",
     "name: x\nroles: [{name: a, scheduling_spec: {ports: [h], cmd: [x]}, readiness: {tcp: h, "
     "http: {port: h}}}]\n",
     "roles[0].readiness: give exactly one of tcp, http"},
    {"readiness word",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, readiness: sometimes}]\n",
     "roles[0].readiness: must be none, {tcp: PORT} or {http: {port: PORT, path: /health}}, got "
     "\"sometimes\""},
    {"readiness kind",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, readiness: {grpc: h}}]\n",
     "roles[0].readiness: unknown key \"grpc\"; allowed: tcp, http"},
    {"readiness path",
     "name: x\nroles: [{name: a, scheduling_spec: {ports: [h], cmd: [x]}, readiness: {http: "
     "{port: h, path: health}}}]\n",
     "roles[0].readiness.http.path: \"health\" is not a URL path"},
    {"readiness http missing port",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, readiness: {http: {path: /}}}]\n",
     "roles[0].readiness.http.port: required key is missing"},
    {"timeout zero",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, startup_timeout: 0}]\n",
     "roles[0].startup_timeout: must be above 0 seconds"},
    {"timeout text",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, startup_timeout: 30s}]\n",
     "roles[0].startup_timeout: must be a number"},
    {"timeout huge",
     "name: x\nroles: [{name: a, scheduling_spec: {cmd: [x]}, startup_timeout: 1e9}]\n",
     "roles[0].startup_timeout: 1000000000.000000 is outside (0, 604800] seconds"},
    {"strategy unknown type",
     "name: x\nroles: [{name: a, scheduling_strategy: {type: together}, scheduling_spec: {cmd: "
     "[x]}}]\n",
     "roles[0].scheduling_strategy.type: unknown type \"together\"; allowed: separation, "
     "colocation"},
    {"strategy target with separation",
     "name: x\nroles: [{name: a, scheduling_strategy: {target: b}, scheduling_spec: {cmd: "
     "[x]}}]\n",
     "roles[0].scheduling_strategy.target: only applies to type: colocation"},
    {"unknown backend", "name: x\nbackend: k8s\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "backend: \"k8s\" is not a backend; use local or slurm"},
    {"slurm with a cluster",
     "name: x\nbackend: slurm\ncluster: {gpus: 8}\nroles: [{name: a, scheduling_spec: {cmd: "
     "[x]}}]\n",
     "cluster: is read from Slurm with backend: slurm; remove cluster"},
    {"slurm unknown key",
     "name: x\nslurm: {partitoin: gpu}\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "partitoin"},
    {"slurm zero timeout",
     "name: x\nslurm: {queue_timeout: 0}\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "slurm.queue_timeout: must be above 0 seconds"},
    {"group not a list",
     "name: x\ngroups: {a: 1}\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "groups: must be a list of groups"},
    {"group name missing",
     "name: x\ngroups: [{members: [{role: a}]}]\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "groups[0].name: required key is missing"},
    {"group bad name",
     "name: x\ngroups: [{name: w-1, members: [{role: a}]}]\nroles: [{name: a, scheduling_spec: "
     "{cmd: [x]}}]\n",
     "groups[0].name: \"w-1\" is not a group name; use 1-32 of [A-Za-z0-9_]"},
    {"group twice",
     "name: x\ngroups: [{name: w, members: [{role: a}]}, {name: W, members: [{role: a}]}]\nroles: "
     "[{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "groups[1].name: \"W\" is the name of an earlier group"},
    {"group no members",
     "name: x\ngroups: [{name: w, members: []}]\nroles: [{name: a, scheduling_spec: {cmd: [x]}}]\n",
     "groups[0].members: is empty"},
    {"group unknown role",
     "name: x\ngroups: [{name: w, members: [{role: b}]}]\nroles: [{name: a, scheduling_spec: "
     "{cmd: [x]}}]\n",
     "groups[0].members[0].role: no role is named \"b\"; roles: a"},
    {"group rank out of range",
     "name: x\ngroups: [{name: w, members: [{role: a, ranks: [0, 2]}]}]\nroles: [{name: a, "
     "replicas: 2, scheduling_spec: {cmd: [x]}}]\n",
     "groups[0].members[0].ranks[1]: 2 is not a worker index of role \"a\" (0..1)"},
    {"group rank twice",
     "name: x\ngroups: [{name: w, members: [{role: a, ranks: [1, 1]}]}]\nroles: [{name: a, "
     "replicas: 2, scheduling_spec: {cmd: [x]}}]\n",
     "groups[0].members[0].ranks[1]: 1 is given twice"},
    {"group member unknown key",
     "name: x\ngroups: [{name: w, members: [{role: a, rank: [0]}]}]\nroles: [{name: a, "
     "scheduling_spec: {cmd: [x]}}]\n",
     "rank"},
    {"slurm restarts_on_node_failure is gone",
     "name: x\nslurm: {restarts_on_node_failure: 1}\nroles: [{name: a, scheduling_spec: {cmd: "
     "[x]}}]\n",
     "slurm.restarts_on_node_failure: is replaced by each role's on_failure"},
    {"strategy missing target",
     "name: x\nroles: [{name: a, scheduling_strategy: {type: colocation}, scheduling_spec: {cmd: "
     "[x]}}]\n",
     "roles[0].scheduling_strategy.target: required key is missing"},
};

TEST(ExperimentYamlTest, Errors) {
  for (const BadCase& c : kBad) {
    Result<ExperimentSpec> e = ParseExperiment(c.yaml, "x.yaml");
    ASSERT_FALSE(e.has_value()) << c.name;
    EXPECT_EQ(e.error().code(), ErrorCode::kInvalidSpec) << c.name;
    EXPECT_NE(e.error().message().find(c.want), std::string::npos)
        << c.name << "\n  want: " << c.want << "\n  got:  " << e.error().message();
    EXPECT_EQ(e.error().message().rfind("x.yaml", 0), 0u) << c.name;
  }
}

// Cases that need two roles.
const BadCase kBadColocation[] = {
    {"fork not bool",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: a, fork: yes}, scheduling_spec: {cmd: "
     "[x]}}\n",
     "roles[1].scheduling_strategy.fork: must be true or false, got \"yes\""},
    {"missing target role",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: c}, scheduling_spec: {cmd: [x]}}\n",
     "x.yaml:4:63: roles[1].scheduling_strategy.target: no role is named \"c\"; roles: a, b"},
    {"cycle",
     "name: x\nroles:\n  - {name: a, scheduling_strategy: {type: colocation, target: b}, "
     "scheduling_spec: {cmd: [x]}}\n  - {name: b, scheduling_strategy: {type: colocation, target: "
     "a}, scheduling_spec: {cmd: [x]}}\n",
     "roles[0].scheduling_strategy.target: colocation cycle: a -> b -> a"},
    {"chain",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {cmd: [x]}}\n  - "
     "{name: c, scheduling_strategy: {type: colocation, target: b}, scheduling_spec: {cmd: "
     "[x]}}\n",
     "roles[2].scheduling_strategy.target: \"b\" is itself colocated onto \"a\"; colocate onto "
     "\"a\" directly"},
    {"mismatch",
     "name: x\nroles:\n  - {name: a, replicas: 4, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "replicas: 3, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {cmd: "
     "[x]}}\n",
     "x.yaml:4:25: roles[1].replicas: Replica count mismatch: \"b\" has 3 replicas but its "
     "target \"a\" has 4"},
    {"alias mismatch",
     "name: x\nroles:\n  - {name: a, replicas: 4, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "replicas: 2, scheduling_strategy: {type: colocation, target: a, fork: false}}\n",
     "roles[1].replicas: Replica count mismatch: \"b\" has 2 replicas"},
    {"grouped onto separate",
     "name: x\nroles:\n  - {name: a, replicas: 4, placement: separate, scheduling_spec: {cmd: "
     "[x]}}\n  - {name: b, replicas: 2, scheduling_strategy: {type: colocation, target: a}, "
     "scheduling_spec: {cmd: [x]}}\n",
     "roles[1].replicas: 2 instances over 4 workers of \"a\": grouped colocation runs a fork over "
     "several workers of a training role (placement shared)"},
    {"grouped asks more gpu",
     "name: x\nroles:\n  - {name: a, replicas: 4, scheduling_spec: {gpu: 1, cmd: [x]}}\n  - "
     "{name: b, replicas: 2, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: "
     "{gpu: 3, cmd: [x]}}\n",
     "roles[1].scheduling_spec.gpu: 3 is more than the 2 GPU of its target 2 workers of \"a\" it "
     "runs over"},
    {"mismatch defaulted replicas",
     "name: x\nroles:\n  - {name: a, replicas: 4, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: a, fork: false}}\n",
     "x.yaml:4:5: roles[1].replicas: Replica count mismatch: \"b\" has 1 replicas"},
    {"fork more gpu",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {gpu: 1, cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {gpu: 2, cmd: [x]}}\n",
     "roles[1].scheduling_spec.gpu: 2 is more than the 1 GPU of its target \"a\"/0"},
    {"placement on colocated",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, placement: "
     "shared, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {cmd: [x]}}\n",
     "roles[1].placement: a colocated role runs in its target's bundles; remove placement"},
    {"alias with spec",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "scheduling_strategy: {type: colocation, target: a, fork: false}, scheduling_spec: {cmd: "
     "[x]}}\n",
     "roles[1].scheduling_spec: an alias (colocation with fork: false) starts no process of its "
     "own"},
    {"alias with timeout",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, "
     "startup_timeout: 3, scheduling_strategy: {type: colocation, target: a, fork: false}}\n",
     "roles[1].startup_timeout: an alias (fork: false) has no process to wait for"},
    {"alias with readiness",
     "name: x\nroles:\n  - {name: a, scheduling_spec: {cmd: [x]}}\n  - {name: b, readiness: "
     "{tcp: h}, scheduling_strategy: {type: colocation, target: a, fork: false}}\n",
     "roles[1].readiness: an alias (fork: false) has no process to check"},
};

TEST(ExperimentYamlTest, ColocationErrors) {
  for (const BadCase& c : kBadColocation) {
    Result<ExperimentSpec> e = ParseExperiment(c.yaml, "x.yaml");
    ASSERT_FALSE(e.has_value()) << c.name;
    EXPECT_NE(e.error().message().find(c.want), std::string::npos)
        << c.name << "\n  want: " << c.want << "\n  got:  " << e.error().message();
  }
}

TEST(ExperimentYamlTest, NotUtf8) {
  Result<ExperimentSpec> e = ParseExperiment("name: x\nroles: [\xff]\n", "x.yaml");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("x.yaml:2: byte 16 is not UTF-8"), std::string::npos)
      << e.error().message();
}

TEST(ExperimentYamlTest, TooLarge) {
  std::string big = "name: x\n#" + std::string(formats::kMaxExperimentBytes, 'a') + "\n";
  Result<ExperimentSpec> e = ParseExperiment(big, "x.yaml");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("an experiment file is at most 1024 KiB"), std::string::npos);
}

TEST(ExperimentYamlTest, AliasBombStops) {
  // One 4 MB cmd, written once in a 24 KB file and named by 21 roles:
  // reading must stop at the scalar budget, not build 84 MB of argv.
  std::string cmd = "[&w \"" + std::string(1000, 'w') + "\"";
  for (int i = 0; i < 4000; ++i) cmd += ", *w";
  cmd += "]";
  std::string roles = "name: x\nroles:\n  - &r {name: a, scheduling_spec: {cmd: " + cmd + "}}\n";
  for (int i = 0; i < 20; ++i) roles += "  - *r\n";
  Result<ExperimentSpec> e = ParseExperiment(roles, "x.yaml");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("MiB of text (through YAML aliases?)"), std::string::npos)
      << e.error().message();
}

TEST(ExperimentYamlTest, ExceptionsDoNotEscape) {
  // Deep nesting: yaml-cpp's depth guard throws; the adapter reports it.
  std::string deep = "name: x\nroles: " + std::string(5000, '[') + "\n";
  Result<ExperimentSpec> e = ParseExperiment(deep, "x.yaml");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("x.yaml"), std::string::npos);
}

// The control API and the Python module send one role as JSON.
TEST(RoleDocumentTest, JsonRoleMap) {
  Result<RoleSpec> r = formats::ParseRoleYaml(
      R"({"name": "rollout", "replicas": 2, "placement": "separate", "instance": {"tp": 2, "pp": 1},
          "scheduling_spec": {"cpu": 1, "gpu": 1, "mem": 2, "ports": ["http"],
                              "cmd": ["srv", "--port={BERTH_PORT_HTTP}"], "env_vars": {"A": "x,y=z"}},
          "readiness": {"tcp": "http"}, "startup_timeout": 12.5})",
      "job");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->name, "rollout");
  EXPECT_EQ(r->replicas, 2);
  EXPECT_EQ(r->placement, PlacementMode::kSeparate);
  ASSERT_TRUE(r->instance.has_value());
  EXPECT_EQ(r->instance->first, 2);
  ASSERT_EQ(r->tasks.size(), 1u);
  EXPECT_EQ(r->tasks[0].cmd, (std::vector<std::string>{"srv", "--port={BERTH_PORT_HTTP}"}));
  ASSERT_EQ(r->tasks[0].env_vars.size(), 1u);
  EXPECT_EQ(r->tasks[0].env_vars[0].second, "x,y=z");
  EXPECT_EQ(r->readiness.kind, Readiness::Kind::kTcp);
  EXPECT_DOUBLE_EQ(r->startup_timeout_s, 12.5);
}

TEST(RoleDocumentTest, ErrorsNameTheSourceAndTheField) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"name": "a", "replicas": "2"})", "job:1:27: role.replicas:"},
           {R"({"name": "a", "colour": 1})", "role: unknown key \"colour\""},
           {R"({"replicas": 1})", "role.name: required key is missing"},
           {R"({"name": "a",)", "job:1:1: malformed YAML"},
           {"", "job: is empty"},
           {"[1, 2]", "role: must be a role map"},
       }) {
    Result<RoleSpec> r = formats::ParseRoleYaml(c.text, "job");
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_NE(r.error().message().find(c.expected), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace berth
