#pragma once
// The YAML adapter of the experiment file (format: docs/experiment.md and
// examples/demo.yaml). berth::ParseExperiment (include/berth/experiment.h)
// calls it.
//
//   name: demo
//   cluster: {gpus: 8, cpu: 16, mem: 64}   # or {file: cluster.json}; omit: this machine
//   roles:
//     - name: actor
//       replicas: 2
//       placement: shared                  # shared | separate | deferred
//       instance: {tp: 2, pp: 1}           # a rollout role
//       scheduling_spec: {cpu: 1, gpu: 1, mem: 2, ports: [http],
//                         cmd: [prog, "--port={BERTH_PORT_HTTP}"], env_vars: {K: v}}
//       scheduling_strategy: {type: colocation, target: actor, fork: true}
//       readiness: {http: {port: http, path: /health}}   # or {tcp: http} or none
//       startup_timeout: 30
//
// Every error is a Status whose message starts with the file, the line and
// column, and the field path, e.g.
//   demo.yaml:12:12: roles[1].scheduling_spec.gpu: 1.5 is not whole; ...
// yaml-cpp's exceptions never leave this adapter. The parser checks the
// shape (keys, types, numbers); ValidateExperiment checks the values, and its
// errors are placed at the line of the field they name.

#include <cstddef>
#include <string_view>

#include "berth/experiment.h"
#include "berth/status.h"

namespace berth::formats {

// An experiment file is a page of text; this bounds what a stray large file
// costs.
inline constexpr size_t kMaxExperimentBytes = 1 << 20;
// YAML aliases share nodes, so a small file can name one big value many
// times; reading stops past this many values or scalar bytes.
inline constexpr size_t kMaxExperimentValues = 1'000'000;
inline constexpr size_t kMaxExperimentScalarBytes = 64 << 20;

Result<ExperimentSpec> ParseExperimentYaml(std::string_view text, std::string_view file);

// One role, as a map of the experiment's `roles` list (JSON is YAML, so a
// JSON object works too): the control API's and the Python module's job.
// Only the shape is checked here; the Scheduler validates the values when it
// creates the role. Field paths in errors start with "role.".
Result<RoleSpec> ParseRoleYaml(std::string_view text, std::string_view file);
// An experiment's `groups` list on its own (shapes only: the roles are
// ValidateExperiment's).
Result<std::vector<CommGroupSpec>> ParseCommGroupsYaml(std::string_view text,
                                                       std::string_view file);

}  // namespace berth::formats
