#include "roles/comm_groups.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/text.h"
#include "roles/limits.h"

namespace berth::roles {
namespace {

using common::Quote;

Status At(const std::string& path, const std::string& what) {
  return InvalidSpec(path + ": " + what);
}

bool IsGroupName(const std::string& name) {
  if (name.empty() || name.size() > 32 || std::isalpha(static_cast<unsigned char>(name[0])) == 0) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

}  // namespace

Status CheckCommGroups(const ExperimentSpec& e) {
  std::map<std::string, const RoleSpec*> roles;
  for (const RoleSpec& r : e.roles) roles[r.name] = &r;
  std::set<std::string> names;
  for (size_t g = 0; g < e.comm_groups.size(); ++g) {
    const CommGroupSpec& spec = e.comm_groups[g];
    const std::string path = "groups[" + std::to_string(g) + "]";
    if (!IsGroupName(spec.name)) {
      return At(path + ".name", Quote(spec.name) +
                                    " is not a group name; use 1-32 of [A-Za-z0-9_], starting "
                                    "with a letter (it becomes part of env names)");
    }
    std::string upper = spec.name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!names.insert(upper).second) {
      return At(path + ".name", Quote(spec.name) +
                                    " is the name of an earlier group (names are compared "
                                    "upper-cased, as in the env); give each group its own");
    }
    if (spec.members.empty()) {
      return At(path + ".members", "is empty; list at least one member, like {role: rollout}");
    }
    for (size_t k = 0; k < spec.members.size(); ++k) {
      const CommGroupMember& m = spec.members[k];
      const std::string mpath = path + ".members[" + std::to_string(k) + "]";
      auto it = roles.find(m.role);
      if (it == roles.end()) {
        std::string known;
        for (const RoleSpec& r : e.roles) known += (known.empty() ? "" : ", ") + r.name;
        return At(mpath + ".role", "no role is named " + Quote(m.role) + "; roles: " + known);
      }
      const RoleSpec& role = *it->second;
      if (role.colocation && !role.colocation->fork) {
        return At(mpath + ".role",
                  Quote(m.role) + " is an alias of " + Quote(role.colocation->target) +
                      " and has no workers of its own; name " + Quote(role.colocation->target));
      }
      std::set<int> seen;
      for (size_t i = 0; i < m.ranks.size(); ++i) {
        const std::string rpath = mpath + ".ranks[" + std::to_string(i) + "]";
        if (m.ranks[i] < 0 || m.ranks[i] >= std::max(role.replicas, 1)) {
          return At(rpath, std::to_string(m.ranks[i]) + " is not a worker index of role " +
                               Quote(m.role) + " (0.." + std::to_string(role.replicas - 1) + ")");
        }
        if (!seen.insert(m.ranks[i]).second) {
          return At(rpath, std::to_string(m.ranks[i]) + " is given twice; list each index once");
        }
      }
    }
  }
  return Status::Ok();
}

std::vector<const WorkerPlan*> CommGroupMembers(const CommGroupSpec& spec,
                                                const std::vector<WorkerPlan>& workers) {
  std::vector<const WorkerPlan*> out;
  for (const CommGroupMember& m : spec.members) {
    for (const WorkerPlan& w : workers) {
      if (w.role != m.role) continue;
      if (!m.ranks.empty() && std::find(m.ranks.begin(), m.ranks.end(), w.index) == m.ranks.end())
        continue;
      out.push_back(&w);
    }
  }
  return out;
}

std::string CommGroupEnvPrefix(const std::string& name) {
  std::string p = "BERTH_GROUP_";
  for (char c : name) p += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return p + "_";
}

void SetCommGroupEnv(const CommGroup& group, std::vector<WorkerPlan>& workers) {
  const std::string prefix = CommGroupEnvPrefix(group.name);
  const std::string world = std::to_string(group.members.size());
  for (WorkerPlan& w : workers) {
    auto at = std::find(group.members.begin(), group.members.end(), w.id);
    if (at == group.members.end()) continue;
    const std::pair<std::string, std::string> vars[] = {
        {prefix + "RANK", std::to_string(at - group.members.begin())},
        {prefix + "WORLD_SIZE", world},
        {prefix + "MASTER_ADDR", group.master_addr},
        {prefix + "MASTER_PORT", std::to_string(group.master_port)},
        {prefix + "VERSION", std::to_string(group.version)},
    };
    for (const auto& var : vars) {
      auto have = std::find_if(w.env.begin(), w.env.end(),
                               [&](const auto& kv) { return kv.first == var.first; });
      if (have != w.env.end()) {
        have->second = var.second;
      } else {
        w.env.push_back(var);
      }
    }
  }
}

}  // namespace berth::roles
