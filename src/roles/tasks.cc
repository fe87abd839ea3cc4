#include "roles/tasks.h"

namespace berth::roles {
namespace {

constexpr int64_t kGib = int64_t{1} << 30;

Result<Quantity> Times(Quantity q, int64_t n, const std::string& field) {
  if (q.units() > Quantity::kMaxUnits / n) {
    return InvalidSpec(field + ": " + q.ToString() + " times the instance size " +
                       std::to_string(n) + " is above the maximum 1e14");
  }
  return Quantity::Units(q.units() * n);
}

}  // namespace

std::string RolePath(size_t role_index) { return "roles[" + std::to_string(role_index) + "]"; }

std::string SpecPath(size_t role_index, const RoleSpec& role, size_t worker) {
  std::string p = RolePath(role_index) + ".scheduling_spec";
  if (role.tasks.size() > 1) {
    // Appended piece by piece: "[" + ... trips a GCC 12 -Wrestrict false positive.
    p += '[';
    p += std::to_string(worker);
    p += ']';
  }
  return p;
}

Quantity MaxMemGib() { return Quantity::Units(Quantity::kMaxUnits / kGib); }

Result<Quantity> MemBytes(Quantity mem_gib, const std::string& field) {
  if (mem_gib.units() < 0 || mem_gib > MaxMemGib()) {
    return InvalidSpec(field + ": " + mem_gib.ToString() + " GiB is outside 0.." +
                       MaxMemGib().ToString() + " GiB (1e14 bytes)");
  }
  return Quantity::Units(mem_gib.units() * kGib);
}

Result<std::vector<SchedulingSpec>> WorkerTasks(const RoleSpec& role, size_t role_index) {
  std::vector<SchedulingSpec> out;
  if (role.tasks.empty()) return out;
  if (role.tasks.size() != 1 && role.tasks.size() != static_cast<size_t>(role.replicas)) {
    return InvalidSpec(RolePath(role_index) +
                       ".scheduling_spec: spec count must be 1 or match "
                       "replicas; got " +
                       std::to_string(role.tasks.size()) + " specs for " +
                       std::to_string(role.replicas) + " replicas");
  }
  out.reserve(role.replicas);
  for (int i = 0; i < role.replicas; ++i) {
    out.push_back(role.tasks.size() == 1 ? role.tasks[0] : role.tasks[i]);
  }
  if (!role.instance) return out;
  const int64_t n = int64_t{role.instance->first} * role.instance->second;
  for (size_t i = 0; i < out.size(); ++i) {
    SchedulingSpec& s = out[i];
    const std::string path = SpecPath(role_index, role, i);
    BERTH_ASSIGN_OR_RETURN(s.cpu, Times(s.cpu, n, path + ".cpu"));
    BERTH_ASSIGN_OR_RETURN(s.mem_gib, Times(s.mem_gib, n, path + ".mem"));
    if (!s.gpu.IsZero()) s.gpu = Quantity::Whole(n);
  }
  return out;
}

}  // namespace berth::roles
