#pragma once
// For the route tests of one endpoint: handlers that answer every endpoint
// with an empty 200 and do nothing; a test overrides the one it checks.

#include <string>
#include <vector>

#include "control/control_server.h"

namespace berth::control {

class StubHandlers : public ControlHandlers {
 public:
  ControlReply GetStatus() override { return {}; }
  ControlReply ListRoles() override { return {}; }
  ControlReply GetWorkers(const std::string& /*role*/, double /*timeout_s*/) override { return {}; }
  ControlReply CreateRole(const RoleSpec& /*role*/) override { return {}; }
  ControlReply ForkRole(const std::string& /*role*/, const std::string& /*target*/,
                        const std::vector<std::string>& /*command*/) override {
    return {};
  }
  ControlReply DeleteRole(const std::string& /*role*/) override { return {}; }
  ControlReply Down() override { return {}; }
};

}  // namespace berth::control
