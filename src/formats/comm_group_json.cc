#include "formats/comm_group_json.h"

namespace berth::formats {

nlohmann::ordered_json CommGroupJson(const CommGroup& group) {
  nlohmann::ordered_json j;
  j["name"] = group.name;
  j["version"] = group.version;
  j["world_size"] = group.members.size();
  j["master_addr"] = group.master_addr;
  j["master_port"] = group.master_port;
  j["members"] = group.members;
  return j;
}

}  // namespace berth::formats
