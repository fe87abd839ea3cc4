// The `launcher` block of a role: what it reads, and each wrong one refused
// at its line with the field, the value, what is allowed and the fix.

#include <gtest/gtest.h>

#include <string>

#include "berth/experiment.h"

namespace berth {
namespace {

std::string Role(const std::string& body) { return "name: t\nroles:\n  - name: r\n" + body; }

std::string Error(const std::string& yaml) {
  Result<ExperimentSpec> e = ParseExperiment(yaml, "x.yaml");
  EXPECT_FALSE(e.has_value()) << "parsed, but an error was expected";
  return e ? "" : e.error().message();
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(LauncherYamlTest, ReadsEveryField) {
  Result<ExperimentSpec> e = ParseExperiment(Role(R"(    replicas: 2
    placement: shared
    launcher:
      kind: torchrun
      program: [/opt/venv/bin/torchrun]
      args: [train.py, --lr, "1e-5"]
      mode: per-rank
    scheduling_spec: {gpu: 1}
  - name: s
    instance: {tp: 2, pp: 1}
    launcher: {kind: sglang}
    scheduling_spec: {gpu: 1}
)"),
                                             "x.yaml");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  const LauncherSpec& l = *e->roles[0].launcher;
  EXPECT_EQ(l.kind, LauncherSpec::Kind::kTorchrun);
  EXPECT_EQ(l.mode, LauncherSpec::Mode::kPerRank);
  EXPECT_EQ(l.program, std::vector<std::string>{"/opt/venv/bin/torchrun"});
  EXPECT_EQ(l.args, (std::vector<std::string>{"train.py", "--lr", "1e-5"}));
  EXPECT_TRUE(e->roles[0].tasks[0].cmd.empty());
  const LauncherSpec& s = *e->roles[1].launcher;
  EXPECT_EQ(s.kind, LauncherSpec::Kind::kSglang);
  EXPECT_TRUE(s.program.empty());
  EXPECT_EQ(s.mode, LauncherSpec::Mode::kPerNode);
  EXPECT_STREQ(LauncherKindName(s.kind), "sglang");
  EXPECT_STREQ(LauncherModeName(l.mode), "per-rank");
}

TEST(LauncherYamlTest, ShapesAndNamesAreCheckedAtTheirLine) {
  std::string e = Error(Role("    launcher: {kind: deepspeed}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "x.yaml:4:22: roles[0].launcher.kind: unknown kind \"deepspeed\"; allowed: "
                  "torchrun, vllm, sglang"))
      << e;
  e = Error(Role("    launcher: {args: [a]}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.kind: required key is missing")) << e;
  e = Error(Role("    launcher: {kind: torchrun, mod: per-rank}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "unknown key \"mod\"; allowed: kind, program, args, mode")) << e;
  e = Error(Role("    launcher: {kind: torchrun, mode: per-gpu}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].launcher.mode: unknown mode \"per-gpu\"; allowed: per-node, "
                  "per-rank"))
      << e;
  e =
      Error(Role("    instance: {tp: 1}\n    launcher: {kind: vllm, mode: per-rank}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.mode: only applies to kind: torchrun")) << e;
  e = Error(Role("    launcher: {kind: torchrun, program: []}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.program: is empty")) << e;
  e = Error(
      Role("    launcher: {kind: torchrun, args: train.py}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.args: must be a list of words")) << e;
  e = Error(Role("    launcher: {kind: torchrun}\n    scheduling_spec: {gpu: 1, cmd: [x]}\n"));
  EXPECT_TRUE(Has(e, "x.yaml:5:36: roles[0].scheduling_spec.cmd: is given beside launcher")) << e;
  // Without a launcher, cmd is still required.
  e = Error(Role("    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].scheduling_spec.cmd: required key is missing")) << e;
}

TEST(LauncherYamlTest, PresetsOnPlacementsThatCannotRunThem) {
  std::string e =
      Error(Role("    placement: separate\n    launcher: {kind: torchrun}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].launcher.kind: torchrun starts one training world over the role's "
                  "ranks and needs placement: shared"))
      << e;
  EXPECT_TRUE(Has(e, "not separate; set placement: shared")) << e;
  e =
      Error(Role("    instance: {tp: 2}\n    launcher: {kind: torchrun}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].launcher.kind: torchrun starts one training world over the role's "
                  "ranks, but the role has instance"))
      << e;
  e = Error(Role("    launcher: {kind: vllm}\n    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].launcher.kind: vllm serves instances of tp x pp GPUs and needs the "
                  "role's instance: {tp, pp}; add instance: {tp: 1, pp: 1}"))
      << e;
  e =
      Error(Role("    instance: {tp: 2}\n    launcher: {kind: sglang}\n"
                 "    scheduling_spec: {gpu: 0, cpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].scheduling_spec.gpu: is 0, but a sglang instance runs on tp*pp "
                  "GPUs; give gpu: 1"))
      << e;
  e =
      Error(Role("    replicas: 2\n    launcher: {kind: torchrun}\n"
                 "    scheduling_spec: {gpu: 0.5}\n"));
  EXPECT_TRUE(Has(e, "roles[0].scheduling_spec.gpu: 0.5 is a share of one device")) << e;
  EXPECT_TRUE(Has(e, "or set launcher mode: per-rank")) << e;
  e =
      Error(Role("    replicas: 2\n    launcher: {kind: torchrun}\n"
                 "    scheduling_spec: [{gpu: 1}, {gpu: 1}]\n"));
  EXPECT_TRUE(Has(e, "roles[0].scheduling_spec: has one spec per rank")) << e;
  e =
      Error(Role("    launcher: {kind: torchrun, mode: per-rank}\n"
                 "    scheduling_spec: {gpu: 1, env_vars: {GROUP_RANK: \"3\"}}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].scheduling_spec.env_vars.GROUP_RANK: GROUP_RANK is set by the "
                  "role's launcher"))
      << e;
}

TEST(LauncherYamlTest, ArgsMayNotSetWhatBerthRenders) {
  std::string e =
      Error(Role("    instance: {tp: 2}\n"
                 "    launcher: {kind: vllm, args: [/m, --tensor_parallel_size=4]}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e,
                  "roles[0].launcher.args[1]: \"--tensor_parallel_size=4\" sets "
                  "--tensor-parallel-size, which berth decides for kind vllm"))
      << e;
  e =
      Error(Role("    instance: {tp: 2}\n    launcher: {kind: sglang, args: [--port, \"80\"]}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.args[0]: \"--port\" sets --port")) << e;
  e =
      Error(Role("    launcher: {kind: torchrun, args: [--master_port=1, train.py]}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "sets --master-port, which berth decides for kind torchrun")) << e;
  // After the script, the flags are the script's own.
  Result<ExperimentSpec> ok =
      ParseExperiment(Role("    launcher: {kind: torchrun, args: [train.py, --nnodes, \"4\"]}\n"
                           "    scheduling_spec: {gpu: 1}\n"),
                      "x.yaml");
  EXPECT_TRUE(ok.has_value()) << ok.error().ToString();
  e =
      Error(Role("    launcher: {kind: torchrun, args: [\"{NOPE\"]}\n"
                 "    scheduling_spec: {gpu: 1}\n"));
  EXPECT_TRUE(Has(e, "roles[0].launcher.args[0]:")) << e;
}

TEST(LauncherYamlTest, ColocationRules) {
  const std::string target =
      "    replicas: 2\n    placement: shared\n    launcher: {kind: torchrun}\n"
      "    scheduling_spec: {gpu: 1}\n";
  std::string e = Error(Role(target + R"(  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: r, fork: true}
    scheduling_spec: {gpu: 0, cmd: [ref]}
)"));
  EXPECT_TRUE(Has(e, "roles[1].scheduling_strategy.target: \"r\" runs one torchrun per node")) << e;
  EXPECT_TRUE(Has(e, "set its launcher mode: per-rank")) << e;
  e = Error(Role(R"(    replicas: 1
    placement: separate
    scheduling_spec: {gpu: 1, cmd: [x]}
  - name: f
    scheduling_strategy: {type: colocation, target: r, fork: true}
    launcher: {kind: torchrun}
    scheduling_spec: {gpu: 1}
)"));
  EXPECT_TRUE(Has(e,
                  "roles[1].launcher.kind: torchrun on a fork joins the ranks of a training "
                  "target"))
      << e;
  e = Error(Role(R"(    replicas: 1
    scheduling_spec: {gpu: 1, cmd: [x]}
  - name: f
    scheduling_strategy: {type: colocation, target: r, fork: false}
    launcher: {kind: torchrun}
)"));
  EXPECT_TRUE(Has(e, "roles[1].launcher: an alias (fork: false) starts no process")) << e;
}

TEST(LauncherYamlTest, ReadinessMayNameTheServerPort) {
  Result<ExperimentSpec> e = ParseExperiment(Role(R"(    instance: {tp: 1}
    launcher: {kind: vllm}
    scheduling_spec: {gpu: 1}
    readiness: {http: {port: http, path: /v1/models}}
)"),
                                             "x.yaml");
  EXPECT_TRUE(e.has_value()) << e.error().ToString();
  std::string err = Error(Role(R"(    launcher: {kind: torchrun}
    scheduling_spec: {gpu: 1}
    readiness: {tcp: http}
)"));
  EXPECT_TRUE(Has(err, "roles[0].readiness.tcp: \"http\" is not among the ports")) << err;
}

}  // namespace
}  // namespace berth
