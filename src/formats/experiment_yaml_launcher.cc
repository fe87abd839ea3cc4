// Reader's launch preset: a role's `launcher` map (docs/experiment.md,
// "Launch presets"). Shapes and names here; the rules between the preset,
// the placement and the specs are ValidateExperiment's (roles/launcher.h).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/experiment_yaml_reader.h"

namespace berth::formats {

Result<std::vector<std::string>> Reader::Words(const Node& n, const std::string& path,
                                               const std::string& expected) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsSequence()) return TypeErr(n, path, expected);
  Mark(path, n);
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    BERTH_ASSIGN_OR_RETURN(std::string w,
                           String(n[i], path + "[" + std::to_string(i) + "]", "a string"));
    out.push_back(std::move(w));
  }
  return out;
}

Result<LauncherSpec> Reader::ReadLauncher(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(
      Entries m, Map(n, path, {"kind", "program", "args", "mode"},
                     "a map like {kind: torchrun, args: [train.py]} (kind: torchrun, vllm or "
                     "sglang)"));
  LauncherSpec l;
  std::optional<Node> kind = Get(m, "kind");
  if (!kind) {
    return Err(n, path + ".kind",
               "required key is missing; give the tool: torchrun, vllm or sglang");
  }
  BERTH_ASSIGN_OR_RETURN(std::string k, String(*kind, path + ".kind", "torchrun, vllm or sglang"));
  if (k == "torchrun") {
    l.kind = LauncherSpec::Kind::kTorchrun;
  } else if (k == "vllm") {
    l.kind = LauncherSpec::Kind::kVllm;
  } else if (k == "sglang") {
    l.kind = LauncherSpec::Kind::kSglang;
  } else {
    return Err(*kind, path + ".kind",
               "unknown kind " + Preview(*kind) +
                   "; allowed: torchrun, vllm, sglang (for another program, leave launcher out "
                   "and give scheduling_spec.cmd)");
  }
  if (auto v = Get(m, "program")) {
    BERTH_ASSIGN_OR_RETURN(l.program,
                           Words(*v, path + ".program", "a list of words, like [torchrun]"));
    if (l.program.empty()) {
      return Err(*v, path + ".program",
                 "is empty; give the entry point, like [/opt/venv/bin/torchrun], or leave "
                 "program out for the tool's default");
    }
  }
  if (auto v = Get(m, "args")) {
    BERTH_ASSIGN_OR_RETURN(
        l.args, Words(*v, path + ".args", "a list of words, like [train.py, --lr, 1e-5]"));
  }
  if (auto v = Get(m, "mode")) {
    const std::string p = path + ".mode";
    if (l.kind != LauncherSpec::Kind::kTorchrun) {
      return Err(*v, p, "only applies to kind: torchrun; remove it");
    }
    BERTH_ASSIGN_OR_RETURN(std::string mode, String(*v, p, "per-node or per-rank"));
    if (mode == "per-rank") {
      l.mode = LauncherSpec::Mode::kPerRank;
    } else if (mode != "per-node") {
      return Err(*v, p, "unknown mode " + Preview(*v) + "; allowed: per-node, per-rank");
    }
  }
  return l;
}

}  // namespace berth::formats
