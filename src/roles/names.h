#pragma once
// The naming rules of the role layer, shared by the YAML adapter, the
// validator and the planner, so that a name the parser accepts is one the
// planner and the process runtime can use.

#include <string>
#include <string_view>

namespace berth::roles {

// Roles: 1-64 of [A-Za-z0-9_.-], starting with a letter or digit. No '/':
// worker ids are "<role>/<index>" and group names "<role>/<i>".
bool IsValidRoleName(std::string_view name);
// Ports: 1-64 of [A-Za-z0-9_-], starting with a letter.
bool IsValidPortName(std::string_view name);
// Environment names: [A-Za-z_][A-Za-z0-9_]*, what a shell can export.
bool IsValidEnvName(std::string_view name);

// "http-api" -> "BERTH_PORT_HTTP_API".
std::string PortEnvName(std::string_view port);

// Names berth sets itself (BERTH_*, CUDA_VISIBLE_DEVICES, the torchrun set,
// ...): a spec may not set them, or a typo could silently change a rank.
bool IsBerthOwnedEnv(std::string_view name);
// The list above, for error messages.
const char* BerthOwnedEnvList();

// The port names berth adds: rank 0 of a training role (MASTER_PORT) and the
// head of a deferred instance (BERTH_HEAD_PORT), unless the spec declares them.
inline constexpr std::string_view kMasterPort = "master";
inline constexpr std::string_view kRendezvousPort = "rendezvous";

}  // namespace berth::roles
