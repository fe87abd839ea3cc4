// The placement map's model: the plan laid out as nodes x GPUs, shared by the
// HTML and SVG writers (plan_html.cc, plan_svg.cc).

#include "formats/plan_map.h"

#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "berth/explanation.h"
#include "placement/explain_text.h"

namespace berth::formats {
namespace {

// Light fills for the workers, darker strokes for the outlines: twelve that
// stay apart; more roles than that reuse them (the legend names each).
constexpr std::array<const char*, 12> kFill = {"#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
                                               "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
                                               "#9edae5", "#d9d9d9", "#bcbd22", "#17becf"};
constexpr std::array<const char*, 12> kStroke = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                 "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                 "#17a2b8", "#555555", "#6b6b00", "#0b6f7a"};

// Past this many characters a tooltip's argv is cut: the map is for looking,
// `berth plan` prints the whole command.
constexpr size_t kMaxTooltip = 240;

const std::string* EnvOf(const WorkerPlan& w, const char* name) {
  for (const auto& [k, v] : w.env) {
    if (k == name) return &v;
  }
  return nullptr;
}

// Rank for a training role, node rank and instance for a deferred one, the
// instance (and its tp/pp) for a rollout role.
std::string Detail(const WorkerPlan& w) {
  std::string out;
  const std::string* rank = EnvOf(w, "RANK");
  const std::string* world = EnvOf(w, "WORLD_SIZE");
  const std::string* nnodes = EnvOf(w, "NNODES");
  if (rank && world) out = "rank " + *rank + "/" + *world;
  const bool instance = w.group != w.role || EnvOf(w, "BERTH_TP") != nullptr;
  if (instance && !(rank && world)) out = "inst " + std::to_string(w.index);
  if (const std::string* tp = EnvOf(w, "BERTH_TP")) {
    const std::string* pp = EnvOf(w, "BERTH_PP");
    out += " tp" + *tp + (pp ? " pp" + *pp : std::string());
  }
  if (const std::string* node_rank = EnvOf(w, "NODE_RANK"); node_rank && nnodes) {
    out += (out.empty() ? "" : " ") + std::string("node ") + *node_rank + "/" + *nnodes;
  }
  return out;
}

std::string Tooltip(const WorkerPlan& w) {
  std::string out = w.id + " (role " + w.role + ") group " + w.group + " bundle #" +
                    std::to_string(w.bundle) + " on " + w.node + " GPU " +
                    placement::DeviceRanges(w.gpus);
  if (!w.shares.empty()) {
    out += ", fork over " + w.shares.front() + ".." + w.shares.back();
  } else if (!w.fork_of.empty()) {
    out += ", fork of " + w.fork_of;
  }
  for (const auto& [name, port] : w.ports) out += ", " + name + "=" + std::to_string(port);
  std::string argv;
  for (const std::string& a : w.argv) argv += (argv.empty() ? "" : " ") + a;
  if (argv.size() > kMaxTooltip) argv = argv.substr(0, kMaxTooltip) + "...";
  return out + "; argv: " + argv;
}

double Amount(const ResourceSet& r, std::string_view name) { return r.Get(name).ToDouble(); }

MapBundle Box(const std::string& group, int bundle, size_t colour) {
  MapBundle b;
  b.group = group;
  b.bundle = bundle;
  b.colour = colour;
  return b;
}

// A bundle placed on a node, with the role that owns its group.
struct Placed {
  const GroupView* group;
  const BundlePlacement* where;
  size_t colour;
};

// The row of one node: cells per device and the used CPU and memory.
MapRow NodeRow(const NodeSpec& node, const std::vector<Placed>& placed,
               const std::vector<const WorkerPlan*>& workers,
               const std::map<std::string, size_t>& colours) {
  MapRow row;
  row.first = row.last = node.name;
  auto address = node.labels.find("address");
  if (address != node.labels.end()) row.address = address->second;
  row.gpus = static_cast<int>(node.resources.Get(kGpu).WholePart());
  int columns = row.gpus;
  for (const Placed& p : placed) {
    for (const GpuShare& s : p.where->gpus) columns = std::max(columns, s.device + 1);
  }
  for (const WorkerPlan* w : workers) {
    for (const GpuShare& s : w->gpus) columns = std::max(columns, s.device + 1);
  }
  std::vector<Quantity> used(columns);
  row.cells.resize(columns + 1);  // the last: work without GPUs
  for (int d = 0; d <= columns; ++d) row.cells[d].device = d < columns ? d : -1;
  ResourceSet total_used;
  for (const Placed& p : placed) {
    const auto& bundles = p.group->bundles;
    if (p.where->index >= 0 && static_cast<size_t>(p.where->index) < bundles.size()) {
      const ResourceSet& r = bundles[p.where->index];
      total_used.Set(kCpu, total_used.Get(kCpu) + r.Get(kCpu));
      total_used.Set(kMemory, total_used.Get(kMemory) + r.Get(kMemory));
    }
    const auto& gpus = p.where->gpus;
    for (size_t k = 0; k < gpus.size(); ++k) {
      const int d = gpus[k].device;
      used[d] += gpus[k].fraction;
      MapBundle b = Box(p.group->name, p.where->index, p.colour);
      b.left = k == 0 || gpus[k - 1].device != d - 1;
      b.right = k + 1 == gpus.size() || gpus[k + 1].device != d + 1;
      row.cells[d].bundles.push_back(std::move(b));
    }
    if (gpus.empty()) {
      row.cells[columns].bundles.push_back(Box(p.group->name, p.where->index, p.colour));
    }
  }
  for (const WorkerPlan* w : workers) {
    MapChip chip{w->id, w->role, colours.at(w->role), Detail(*w), "", w->fork_of, Tooltip(*w)};
    std::vector<std::pair<int, Quantity>> at;
    for (const GpuShare& s : w->gpus) at.emplace_back(s.device, s.fraction);
    if (at.empty()) at.emplace_back(columns, Quantity());
    for (const auto& [d, fraction] : at) {
      MapChip c = chip;
      if (d < columns && fraction != Quantity::Whole(1)) c.share = fraction.ToString() + " GPU";
      MapCell& cell = row.cells[d];
      MapBundle* home = nullptr;
      for (MapBundle& b : cell.bundles) {
        // A grouped fork spans its targets' bundles: each device's own.
        if (b.group == w->group && (b.bundle == w->bundle || !w->shares.empty())) home = &b;
      }
      if (home == nullptr) {  // not in a bundle of the plan's groups: its own box
        cell.bundles.push_back(Box(w->group, w->bundle, chip.colour));
        home = &cell.bundles.back();
      }
      home->chips.push_back(std::move(c));
    }
  }
  for (int d = 0; d < columns; ++d) {
    const Quantity left = Quantity::Whole(1) - used[d];
    if (used[d].IsZero()) {
      row.cells[d].free = "free";
    } else if (left > Quantity()) {
      row.cells[d].free = left.ToString() + " free";
    }
  }
  if (row.cells[columns].bundles.empty()) row.cells.pop_back();
  if (placed.empty() && workers.empty()) row.cells.clear();  // idle: drawn as one span

  row.cpu_total = Amount(node.resources, kCpu);
  row.cpu_used = Amount(total_used, kCpu);
  row.mem_total = Amount(node.resources, kMemory);
  row.mem_used = Amount(total_used, kMemory);
  row.cpu_text = total_used.Get(kCpu).ToString() + " / " + node.resources.Get(kCpu).ToString();
  row.mem_text = placement::HumanAmount(std::string(kMemory), total_used.Get(kMemory)) + " / " +
                 placement::HumanAmount(std::string(kMemory), node.resources.Get(kMemory));
  return row;
}

std::string Verdict(const NodeExplanation& n) {
  std::string out = NodeVerdictName(n.verdict);
  if (n.verdict == NodeVerdict::kFullNow || n.verdict == NodeVerdict::kNeverFits) {
    out += ": ";
    out += n.bundle < 0 ? "all bundles" : "bundle " + std::to_string(n.bundle);
    out += ": " + placement::ShortfallText(n);
  }
  return out;
}

}  // namespace

const char* MapFill(size_t i) { return kFill[i % kFill.size()]; }
const char* MapStroke(size_t i) { return kStroke[i % kStroke.size()]; }

std::string EscapeMarkup(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        out += kReplacement;
      } else if (c == '&') {
        out += "&amp;";
      } else if (c == '<') {
        out += "&lt;";
      } else if (c == '>') {
        out += "&gt;";
      } else if (c == '"') {
        out += "&quot;";
      } else if (c == '\'') {
        out += "&#39;";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (no overlong form, surrogate, value past
    // U+10FFFF, U+FFFE or U+FFFF) is copied; any other byte is replaced.
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool ok = len > 0 && i + len <= n && p[i + 1] >= lo && p[i + 1] <= hi;
    for (size_t k = 2; ok && k < len; ++k) ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
    if (ok && len == 3 && c == 0xEF && p[i + 1] == 0xBF && p[i + 2] >= 0xBE) ok = false;
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(s, i, len);
    i += len;
  }
  return out;
}

std::string ClipText(const std::string& s, size_t max) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // a continuation byte
    if (chars == max) return s.substr(0, i) + "...";
    ++chars;
  }
  return s;
}

PlanMap BuildPlanMap(const PlanMapInput& input) {
  static const Plan kEmptyPlan;
  static const std::vector<NodeSpec> kNoNodes;
  const Plan& plan = input.plan != nullptr ? *input.plan : kEmptyPlan;
  const std::vector<NodeSpec>& nodes = input.nodes != nullptr ? *input.nodes : kNoNodes;
  PlanMap map;
  map.cluster = input.cluster;
  map.warnings = plan.warnings;
  map.workers = plan.workers.size();
  map.title = "experiment " + input.experiment + ": " + std::to_string(plan.workers.size()) +
              " workers in " + std::to_string(plan.groups.size()) + " groups on " +
              std::to_string(nodes.size()) + " nodes";

  // Colours by role, in launch order; then the roles that own a group only.
  std::map<std::string, size_t> colours;
  auto add_role = [&](const std::string& role) {
    if (colours.emplace(role, map.roles.size()).second) {
      map.roles.push_back({role, colours[role], 0, ""});
    }
    return colours[role];
  };
  for (const WorkerPlan& w : plan.workers) ++map.roles[add_role(w.role)].workers;
  for (const PlannedGroup& g : plan.groups) add_role(g.role);
  for (const auto& [role, target] : plan.aliases) {
    map.roles[add_role(role)].alias_of = target;
    map.roles[colours[role]].colour = colours.contains(target) ? colours[target] : colours[role];
  }

  std::map<std::string, std::vector<Placed>> placed;
  for (const PlannedGroup& g : plan.groups) {
    const size_t colour = add_role(g.role);
    for (const BundlePlacement& p : g.group.placed)
      placed[p.node].push_back({&g.group, &p, colour});
  }
  std::map<std::string, std::vector<const WorkerPlan*>> workers;
  for (const WorkerPlan& w : plan.workers) workers[w.node].push_back(&w);

  std::map<std::string, const NodeExplanation*> verdicts;
  if (input.not_placed != nullptr && !input.not_placed->ok()) {
    map.not_placed = input.not_placed->message();
    map.not_placed_state =
        input.not_placed->code() == ErrorCode::kUnavailable ? "PENDING" : "INFEASIBLE";
    if (const Explanation* e = input.not_placed->explanation()) {
      map.not_placed_detail = placement::ExplanationText(*e);
      for (const NodeExplanation& n : e->nodes) verdicts[n.node] = &n;
    }
  }

  // Rows in cluster order (then any node the plan names that the cluster
  // does not: a hand-built plan); idle neighbours alike in resources and
  // verdict share one row.
  std::vector<const NodeSpec*> order;
  std::map<std::string, bool> known;
  for (const NodeSpec& n : nodes) {
    order.push_back(&n);
    known[n.name] = true;
  }
  std::vector<NodeSpec> extra;
  for (const WorkerPlan& w : plan.workers) {
    if (!known[w.node]) {
      known[w.node] = true;
      extra.push_back({w.node, {}, {}});
    }
  }
  for (const NodeSpec& n : extra) order.push_back(&n);
  static const std::vector<Placed> kNone;
  static const std::vector<const WorkerPlan*> kNoWorkers;
  const NodeSpec* previous = nullptr;
  for (const NodeSpec* n : order) {
    auto p = placed.find(n->name);
    auto w = workers.find(n->name);
    MapRow row = NodeRow(*n, p == placed.end() ? kNone : p->second,
                         w == workers.end() ? kNoWorkers : w->second, colours);
    auto v = verdicts.find(n->name);
    if (v != verdicts.end()) row.verdict = Verdict(*v->second);
    map.max_gpus = std::max(map.max_gpus, row.gpus);
    for (const MapCell& c : row.cells) map.max_gpus = std::max(map.max_gpus, c.device + 1);
    if (previous != nullptr && !map.rows.empty()) {
      MapRow& last = map.rows.back();
      if (last.cells.empty() && row.cells.empty() && previous->resources == n->resources &&
          last.verdict == row.verdict) {
        last.last = n->name;
        ++last.count;
        previous = n;
        continue;
      }
    }
    map.rows.push_back(std::move(row));
    previous = n;
  }
  return map;
}

}  // namespace berth::formats
