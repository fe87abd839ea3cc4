#pragma once
// A communication group (include/berth/plan.h, CommGroup) as JSON: in
// `berth plan --json`, GET /v1/groups/<name> and events.jsonl alike.

#include <nlohmann/json.hpp>

#include "berth/plan.h"

namespace berth::formats {

// {"name", "version", "world_size", "master_addr", "master_port",
//  "members": [worker id, ...]} (members in rank order).
nlohmann::ordered_json CommGroupJson(const CommGroup& group);

}  // namespace berth::formats
