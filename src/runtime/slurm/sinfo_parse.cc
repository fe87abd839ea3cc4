// Reads `sinfo -N -h -O kSinfoFormat`: the nodes, their state, resources and partitions.

#include <algorithm>
#include <set>
#include <utility>

#include "berth/resources.h"
#include "common/text.h"
#include "runtime/slurm/slurm_parse.h"
#include "runtime/slurm/slurm_text.h"

namespace berth::runtime::slurm {
namespace {

constexpr int64_t kMib = int64_t{1} << 20;

std::string StateWords(NodeState s) {
  switch (s) {
    case NodeState::kDown:
      return "down";
    case NodeState::kDrained:
      return "drained";
    case NodeState::kDraining:
      return "draining";
    case NodeState::kFail:
      return "failed";
    case NodeState::kFailing:
      return "failing";
    case NodeState::kInvalid:
      return "invalid (its slurmd's registration does not match slurm.conf)";
    case NodeState::kMaint:
      return "in maintenance";
    case NodeState::kReserved:
      return "reserved";
    case NodeState::kRebooting:
      return "rebooting";
    case NodeState::kFuture:
      return "not in service yet (FUTURE)";
    case NodeState::kBlocked:
      return "blocked";
    case NodeState::kUnknown:
      return "in an unknown state (its slurmd has not registered)";
    default:
      return "";
  }
}

}  // namespace

std::vector<std::string> SinfoArgs() { return {"-N", "-h", "-O", std::string(kSinfoFormat)}; }

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kIdle:
      return "IDLE";
    case NodeState::kMixed:
      return "MIXED";
    case NodeState::kAllocated:
      return "ALLOCATED";
    case NodeState::kCompleting:
      return "COMPLETING";
    case NodeState::kPlanned:
      return "PLANNED";
    case NodeState::kDown:
      return "DOWN";
    case NodeState::kDrained:
      return "DRAINED";
    case NodeState::kDraining:
      return "DRAINING";
    case NodeState::kFail:
      return "FAIL";
    case NodeState::kFailing:
      return "FAILING";
    case NodeState::kInvalid:
      return "INVALID";
    case NodeState::kMaint:
      return "MAINT";
    case NodeState::kReserved:
      return "RESERVED";
    case NodeState::kRebooting:
      return "REBOOTING";
    case NodeState::kPoweredDown:
      return "POWERED_DOWN";
    case NodeState::kPoweringDown:
      return "POWERING_DOWN";
    case NodeState::kPoweringUp:
      return "POWERING_UP";
    case NodeState::kFuture:
      return "FUTURE";
    case NodeState::kBlocked:
      return "BLOCKED";
    case NodeState::kUnknown:
      return "UNKNOWN";
    case NodeState::kOther:
      return "OTHER";
  }
  return "OTHER";
}

NodeStatus ParseNodeState(std::string_view compact) {
  NodeStatus st;
  st.text = std::string(Trim(compact));
  std::string lower;
  for (char c : st.text) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  std::string_view base = lower;
  // sinfo's compact suffixes: * not responding, ~ powered off, # powering up,
  // % powering down, ! power down pending, @ reboot pending, ^ rebooting,
  // $ maintenance reservation, - planned by backfill.
  bool maint = false;
  bool rebooting = false;
  bool planned = false;
  bool powered_off = false;
  while (!base.empty() &&
         std::string_view("*~#%!@^$-").find(base.back()) != std::string_view::npos) {
    switch (base.back()) {
      case '*':
        st.not_responding = true;
        break;
      case '~':
        powered_off = true;
        break;
      case '^':
        rebooting = true;
        break;
      case '$':
        maint = true;
        break;
      case '-':
        planned = true;
        break;
      default:
        break;
    }
    base.remove_suffix(1);
  }
  // Long forms ("idle+drain+not_responding", as in StateComplete) are read too.
  bool drain = false;
  size_t plus = base.find('+');
  if (plus != std::string_view::npos) {
    std::string_view flags = base.substr(plus + 1);
    base = base.substr(0, plus);
    while (!flags.empty()) {
      size_t next = flags.find('+');
      std::string_view f = flags.substr(0, next);
      if (f == "drain") drain = true;
      if (f == "not_responding") st.not_responding = true;
      if (f == "maint") maint = true;
      if (f == "planned") planned = true;
      if (f == "powered_down" || f == "power_down") powered_off = true;
      if (f == "reboot_issued") rebooting = true;
      if (next == std::string_view::npos) break;
      flags.remove_prefix(next + 1);
    }
  }
  static const std::pair<std::string_view, NodeState> kNames[] = {
      {"idle", NodeState::kIdle},
      {"mix", NodeState::kMixed},
      {"mixed", NodeState::kMixed},
      {"alloc", NodeState::kAllocated},
      {"allocated", NodeState::kAllocated},
      {"comp", NodeState::kCompleting},
      {"completing", NodeState::kCompleting},
      {"plnd", NodeState::kPlanned},
      {"planned", NodeState::kPlanned},
      {"down", NodeState::kDown},
      {"drain", NodeState::kDrained},
      {"drained", NodeState::kDrained},
      {"drng", NodeState::kDraining},
      {"draining", NodeState::kDraining},
      {"fail", NodeState::kFail},
      {"failg", NodeState::kFailing},
      {"failing", NodeState::kFailing},
      {"inval", NodeState::kInvalid},
      {"invalid", NodeState::kInvalid},
      {"maint", NodeState::kMaint},
      {"resv", NodeState::kReserved},
      {"reserved", NodeState::kReserved},
      {"boot", NodeState::kRebooting},
      {"reboot", NodeState::kRebooting},
      {"pow_dn", NodeState::kPoweringDown},
      {"powering_down", NodeState::kPoweringDown},
      {"pow_up", NodeState::kPoweringUp},
      {"powering_up", NodeState::kPoweringUp},
      {"powered_down", NodeState::kPoweredDown},
      {"futr", NodeState::kFuture},
      {"future", NodeState::kFuture},
      {"blocked", NodeState::kBlocked},
      {"unk", NodeState::kUnknown},
      {"unknown", NodeState::kUnknown},
  };
  st.state = NodeState::kOther;
  for (const auto& [name, state] : kNames) {
    if (base == name) st.state = state;
  }
  if (drain) {
    st.state = (st.state == NodeState::kIdle || st.state == NodeState::kDrained)
                   ? NodeState::kDrained
                   : NodeState::kDraining;
  }
  if (st.state == NodeState::kIdle && powered_off) st.state = NodeState::kPoweredDown;
  if (st.state == NodeState::kIdle && planned) st.state = NodeState::kPlanned;

  switch (st.state) {
    case NodeState::kIdle:
    case NodeState::kMixed:
    case NodeState::kAllocated:
    case NodeState::kCompleting:
    case NodeState::kPlanned:
    case NodeState::kPoweredDown:
    case NodeState::kPoweringDown:
    case NodeState::kPoweringUp:
      st.usable = true;
      break;
    case NodeState::kOther:
      st.unusable_reason = "in a state berth does not know (" + common::QuoteForeign(st.text) + ")";
      break;
    default:
      st.unusable_reason = StateWords(st.state);
      break;
  }
  if (st.usable && rebooting) {
    st.usable = false;
    st.unusable_reason = "rebooting";
  }
  if (st.usable && maint) {
    st.usable = false;
    st.unusable_reason = "in a maintenance reservation";
  }
  if (st.not_responding) {
    st.usable = false;
    st.unusable_reason =
        st.unusable_reason.empty() ? "not responding" : st.unusable_reason + ", not responding";
  }
  return st;
}

Result<std::vector<SlurmNode>> ParseSinfo(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 12;
  std::vector<SlurmNode> nodes;
  BERTH_ASSIGN_OR_RETURN(std::vector<Row> rows,
                         Rows(text, source, kFields, "NODELIST",
                              "sinfo -N -h -O '" + std::string(kSinfoFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    const std::string_view name = Trim(f[0]);
    if (name.empty() || name.find_first_of(" ,[]") != std::string_view::npos) {
      return bad("NodeList", f[0], "is not one node name (run sinfo with -N)");
    }
    std::string_view partition = Trim(f[1]);
    bool is_default = false;
    if (!partition.empty() && partition.back() == '*') {
      is_default = true;
      partition.remove_suffix(1);
    }
    auto it = std::find_if(nodes.begin(), nodes.end(),
                           [&](const SlurmNode& n) { return n.spec.name == name; });
    if (it != nodes.end()) {
      // The same node in another partition: only the partition is new.
      if (!partition.empty() && std::find(it->partitions.begin(), it->partitions.end(),
                                          partition) == it->partitions.end()) {
        it->partitions.emplace_back(partition);
        it->spec.labels["partition"] = Join(it->partitions, ",");
      }
      if (is_default) it->default_partition = std::string(partition);
      continue;
    }

    SlurmNode node;
    node.spec.name = std::string(name);
    if (!partition.empty()) node.partitions.emplace_back(partition);
    if (is_default) node.default_partition = std::string(partition);
    node.status = ParseNodeState(f[2]);

    int64_t cpus = 0;
    int64_t mem_mb = 0;
    int64_t alloc_mem_mb = 0;
    if (!ParseWhole(Trim(f[3]), &cpus)) return bad("CPUs", f[3], "is not a whole number");
    if (!ParseWhole(Trim(f[4]), &mem_mb))
      return bad("Memory", f[4], "is not a whole number of MiB");
    if (!ParseWhole(Trim(f[5]), &alloc_mem_mb))
      return bad("AllocMem", f[5], "is not a whole number of MiB");
    const int64_t max_mb = Quantity::kMaxUnits / Quantity::kScale / kMib;
    if (mem_mb > max_mb) return bad("Memory", f[4], "is above 1e14 bytes");
    if (alloc_mem_mb > max_mb) return bad("AllocMem", f[5], "is above 1e14 bytes");
    auto cpu_q = Quantity::FromInteger(cpus, "CPUs");
    if (!cpu_q) return bad("CPUs", f[3], cpu_q.error().message());
    node.spec.resources.Set(kCpu, *cpu_q);
    node.spec.resources.Set(kMemory, Quantity::Whole(mem_mb * kMib));
    node.alloc_memory_bytes = alloc_mem_mb * kMib;

    // CPUsState: allocated/idle/other/total.
    std::string_view cpu_state = Trim(f[6]);
    size_t slash = cpu_state.find('/');
    if (!ParseWhole(cpu_state.substr(0, slash), &node.alloc_cpus) ||
        slash == std::string_view::npos) {
      return bad("CPUsState", f[6], "is not allocated/idle/other/total");
    }

    auto gres = ParseGres(f[7], std::string(source) + ":" + std::to_string(row.line_no) + ": Gres");
    if (!gres) return gres.error();
    int64_t gpus = 0;
    std::vector<std::string> types;
    for (const Gres& g : *gres) {
      if (g.name != "gpu") continue;
      gpus += g.count;
      if (!g.type.empty() && std::find(types.begin(), types.end(), g.type) == types.end()) {
        types.push_back(g.type);
      }
    }
    if (gpus > 1024) return bad("Gres", f[7], "declares more than 1024 GPUs");
    if (gpus > 0) node.spec.resources.Set(kGpu, Quantity::Whole(gpus));
    if (!types.empty()) node.spec.labels["gpu_type"] = Join(types, ",");

    auto used =
        ParseGres(f[8], std::string(source) + ":" + std::to_string(row.line_no) + ": GresUsed");
    if (!used) return used.error();
    std::set<int> used_ids;
    for (const Gres& g : *used) {
      if (g.name != "gpu") continue;
      node.gpus_used += g.count;
      used_ids.insert(g.indices.begin(), g.indices.end());
    }
    node.gpus_used_indices.assign(used_ids.begin(), used_ids.end());

    const std::string_view addr = Trim(f[9]);
    if (!addr.empty()) node.spec.labels["address"] = std::string(addr);
    if (!node.partitions.empty()) node.spec.labels["partition"] = Join(node.partitions, ",");
    node.spec.labels["state"] = node.status.text;
    const std::string_view features = Trim(f[10]);
    if (!features.empty() && features != "(null)")
      node.spec.labels["features"] = std::string(features);
    const std::string_view reason = Trim(f[11]);
    if (reason != "none" && reason != "(null)") node.reason = std::string(reason);
    if (!node.status.usable && !node.reason.empty()) {
      node.status.unusable_reason += ": " + node.reason;
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

}  // namespace berth::runtime::slurm
