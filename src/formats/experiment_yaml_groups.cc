// Reader's communication groups: the experiment's `groups` list (docs/
// experiment.md, "Communication groups"). Shapes here; names, roles and
// ranks against the roles are ValidateExperiment's.

#include <string>
#include <utility>
#include <vector>

#include "formats/experiment_yaml_reader.h"

namespace berth::formats {

Result<std::vector<CommGroupSpec>> Reader::ReadCommGroups(const Node& n) {
  BERTH_RETURN_IF_ERROR(Tick(n, "groups"));
  if (!n.IsSequence()) {
    return TypeErr(n, "groups",
                   "a list of groups like [{name: weights, members: [{role: actor, ranks: [0]}, "
                   "{role: rollout}]}]");
  }
  Mark("groups", n);
  std::vector<CommGroupSpec> out;
  for (size_t g = 0; g < n.size(); ++g) {
    const std::string path = "groups[" + std::to_string(g) + "]";
    BERTH_ASSIGN_OR_RETURN(Entries m, Map(n[g], path, {"name", "members"},
                                          "a map like {name: weights, members: [{role: actor}]}"));
    CommGroupSpec spec;
    std::optional<Node> name = Get(m, "name");
    if (!name) return Err(n[g], path + ".name", "required key is missing; name the group");
    BERTH_ASSIGN_OR_RETURN(spec.name, String(*name, path + ".name", "a group name"));
    std::optional<Node> members = Get(m, "members");
    if (!members) {
      return Err(n[g], path + ".members",
                 "required key is missing; list the members, like [{role: rollout}]");
    }
    BERTH_RETURN_IF_ERROR(Tick(*members, path + ".members"));
    if (!members->IsSequence()) {
      return TypeErr(*members, path + ".members", "a list like [{role: actor, ranks: [0]}]");
    }
    Mark(path + ".members", *members);
    for (size_t k = 0; k < members->size(); ++k) {
      const std::string mpath = path + ".members[" + std::to_string(k) + "]";
      BERTH_ASSIGN_OR_RETURN(Entries mm, Map((*members)[k], mpath, {"role", "ranks"},
                                             "a map like {role: actor, ranks: [0]}"));
      CommGroupMember member;
      std::optional<Node> role = Get(mm, "role");
      if (!role) {
        return Err((*members)[k], mpath + ".role", "required key is missing; name the role");
      }
      BERTH_ASSIGN_OR_RETURN(member.role, String(*role, mpath + ".role", "a role name"));
      if (auto ranks = Get(mm, "ranks")) {
        BERTH_RETURN_IF_ERROR(Tick(*ranks, mpath + ".ranks"));
        if (!ranks->IsSequence()) {
          return TypeErr(*ranks, mpath + ".ranks", "a list of worker indices like [0, 1]");
        }
        Mark(mpath + ".ranks", *ranks);
        for (size_t i = 0; i < ranks->size(); ++i) {
          BERTH_ASSIGN_OR_RETURN(
              int64_t r,
              Integer((*ranks)[i], mpath + ".ranks[" + std::to_string(i) + "]", 0, 65535));
          member.ranks.push_back(static_cast<int>(r));
        }
      }
      spec.members.push_back(std::move(member));
    }
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace berth::formats
