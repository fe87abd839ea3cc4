#include "formats/plan_render.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "formats/comm_group_json.h"
#include "placement/explain_text.h"

namespace berth::formats {
namespace {

using Json = nlohmann::ordered_json;

Json Number(Quantity q) {
  if (q.IsWhole()) return q.WholePart();
  return q.ToDouble();
}

Json Resources(const ResourceSet& r) {
  Json out = Json::object();
  for (const auto& [name, q] : r.items()) out[name] = Number(q);
  return out;
}

Json Group(const PlannedGroup& pg) {
  const GroupView& g = pg.group;
  Json j;
  j["role"] = pg.role;
  j["group"] = g.name;
  j["strategy"] = StrategyName(g.strategy);
  j["state"] = GroupStateName(g.state);
  Json bundles = Json::array();
  for (const BundlePlacement& p : g.placed) {
    Json b;
    b["index"] = p.index;
    b["node"] = p.node;
    Json gpus = Json::array();
    for (const GpuShare& s : p.gpus)
      gpus.push_back({{"id", s.device}, {"fraction", Number(s.fraction)}});
    b["gpus"] = std::move(gpus);
    if (p.index >= 0 && static_cast<size_t>(p.index) < g.bundles.size()) {
      b["resources"] = Resources(g.bundles[p.index]);
    }
    bundles.push_back(std::move(b));
  }
  j["bundles"] = std::move(bundles);
  // A plan only holds placed groups; the keys stay for berth place's shape.
  j["reason"] = "";
  j["explain"] = Json::object();
  return j;
}

Json Readiness(const berth::Readiness& r) {
  Json j;
  switch (r.kind) {
    case berth::Readiness::Kind::kNone:
      j["kind"] = "none";
      break;
    case berth::Readiness::Kind::kTcp:
      j["kind"] = "tcp";
      j["port"] = r.port;
      break;
    case berth::Readiness::Kind::kHttp:
      j["kind"] = "http";
      j["port"] = r.port;
      j["path"] = r.path;
      break;
  }
  return j;
}

Json Worker(const WorkerPlan& w) {
  Json j;
  j["id"] = w.id;
  j["role"] = w.role;
  j["index"] = w.index;
  j["node"] = w.node;
  j["address"] = w.address;
  j["group"] = w.group;
  j["bundle"] = w.bundle;
  Json gpus = Json::array();
  Json fractions = Json::array();
  bool shared = false;
  for (const GpuShare& s : w.gpus) {
    gpus.push_back(s.device);
    fractions.push_back(Number(s.fraction));
    shared = shared || s.fraction != Quantity::Whole(1);
  }
  j["gpus"] = std::move(gpus);
  if (shared) j["gpu_fractions"] = std::move(fractions);
  Json ports = Json::object();
  for (const auto& [name, port] : w.ports) ports[name] = port;
  j["ports"] = std::move(ports);
  Json env = Json::object();
  for (const auto& [k, v] : w.env) env[k] = v;
  j["env"] = std::move(env);
  j["argv"] = w.argv;
  if (!w.fork_of.empty()) j["fork_of"] = w.fork_of;
  if (!w.shares.empty()) j["shares"] = w.shares;
  j["readiness"] = Readiness(w.readiness);
  // Seconds; whole ones print as integers (30, not 30.0).
  const double t = w.startup_timeout_s;
  if (t == std::floor(t) && t < 1e15) {
    j["startup_timeout"] = static_cast<int64_t>(t);
  } else {
    j["startup_timeout"] = t;
  }
  return j;
}

const std::string* EnvOf(const WorkerPlan& w, const char* name) {
  for (const auto& [k, v] : w.env) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string Rank(const WorkerPlan& w) {
  const std::string* rank = EnvOf(w, "RANK");
  const std::string* world = EnvOf(w, "WORLD_SIZE");
  if (rank && world) return *rank + "/" + *world;
  const std::string* node_rank = EnvOf(w, "NODE_RANK");
  const std::string* nnodes = EnvOf(w, "NNODES");
  if (node_rank && nnodes) return "node " + *node_rank + "/" + *nnodes;
  return "-";
}

std::string Ports(const WorkerPlan& w) {
  std::string out;
  for (const auto& [name, port] : w.ports) {
    out += (out.empty() ? "" : " ") + name + "=" + std::to_string(port);
  }
  return out.empty() ? "-" : out;
}

std::string Notes(const WorkerPlan& w) {
  std::string out;
  if (const std::string* tp = EnvOf(w, "BERTH_TP")) {
    out += "tp " + *tp + " pp " + *EnvOf(w, "BERTH_PP");
  }
  if (!w.shares.empty()) {
    out += (out.empty() ? "" : ", ") + std::string("fork over ") + w.shares.front() + ".." +
           w.shares.back();
  } else if (!w.fork_of.empty()) {
    out += (out.empty() ? "" : ", ") + std::string("fork of ") + w.fork_of;
  }
  return out;
}

// An argv word as a shell would need it to read it back: plain words as they
// are, others in single quotes (a quote inside as '\''), so that a command
// line can be copied and checked by eye.
std::string ShellWord(const std::string& w) {
  const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-_./:=,+@%").find(c) != std::string_view::npos;
  });
  if (plain) return w;
  std::string out = "'";
  for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + ShellWord(a);
  return out;
}

// Left-aligned columns; the last one is not padded.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += "  " + r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Scalar(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// One line: {"id": 0, "fraction": 1}.
void Inline(const Json& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += first ? "" : ", ";
      first = false;
      out += Scalar(Json(it.key())) + ": ";
      Inline(it.value(), out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      out += i > 0 ? ", " : "";
      Inline(j[i], out);
    }
    out += ']';
  } else {
    out += Scalar(j);
  }
}

// Indented, except that a container that fits in kWidth columns stays on one
// line: a bundle, a GPU list or a short env is one line a person can scan.
void Pretty(const Json& j, size_t indent, std::string& out) {
  constexpr size_t kWidth = 100;
  std::string flat;
  Inline(j, flat);
  if (!j.is_structured() || j.empty() || indent + flat.size() <= kWidth) {
    out += flat;
    return;
  }
  const std::string pad(indent + 2, ' ');
  out += j.is_object() ? "{\n" : "[\n";
  size_t i = 0;
  for (auto it = j.begin(); it != j.end(); ++it, ++i) {
    out += pad;
    if (j.is_object()) out += Scalar(Json(it.key())) + ": ";
    Pretty(it.value(), indent + 2, out);
    out += i + 1 < j.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + (j.is_object() ? "}" : "]");
}

}  // namespace

std::string PlanJson(const std::string& experiment, const Plan& plan) {
  Json j;
  j["experiment"] = experiment;
  j["groups"] = Json::array();
  for (const PlannedGroup& g : plan.groups) j["groups"].push_back(Group(g));
  j["workers"] = Json::array();
  for (const WorkerPlan& w : plan.workers) j["workers"].push_back(Worker(w));
  j["aliases"] = Json::array();
  for (const auto& [role, target] : plan.aliases) {
    j["aliases"].push_back({{"role", role}, {"target", target}});
  }
  j["comm_groups"] = Json::array();
  for (const CommGroup& g : plan.comm_groups) j["comm_groups"].push_back(CommGroupJson(g));
  j["warnings"] = plan.warnings;
  // Values are UTF-8 when they come from a parsed file; a hand-built plan
  // with other bytes gets U+FFFD rather than an exception.
  std::string out;
  Pretty(j, 0, out);
  return out + "\n";
}

std::string PlanText(const std::string& experiment, const Plan& plan,
                     const std::vector<NodeSpec>& nodes, const std::string& cluster) {
  std::map<std::string, size_t> node_order;
  for (size_t i = 0; i < nodes.size(); ++i) node_order.emplace(nodes[i].name, i);
  std::vector<size_t> order(plan.workers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto first_gpu = [&](size_t i) {
    const auto& g = plan.workers[i].gpus;
    return g.empty() ? 1 << 30 : g.front().device;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const size_t na = node_order[plan.workers[a].node];
    const size_t nb = node_order[plan.workers[b].node];
    if (na != nb) return na < nb;
    return first_gpu(a) < first_gpu(b);
  });

  std::string out = "experiment " + experiment + ": " + std::to_string(plan.workers.size()) +
                    " workers in " + std::to_string(plan.groups.size()) + " groups on " + cluster +
                    "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "GPU", "WORKER", "RANK", "PORTS", "NOTES"}};
  for (size_t i : order) {
    const WorkerPlan& w = plan.workers[i];
    rows.push_back({w.node, placement::DeviceRanges(w.gpus), w.id, Rank(w), Ports(w), Notes(w)});
  }
  out += Table(rows);

  // Each process's command line as berth starts it (launch presets render
  // theirs from the plan), in launch order.
  out += "\nCOMMANDS\n";
  std::vector<std::vector<std::string>> commands;
  for (const WorkerPlan& w : plan.workers) commands.push_back({w.id, CommandLine(w.argv)});
  out += Table(commands);

  // One row per bundle; a group's name only on its first.
  out += "\nGROUPS\n";
  std::vector<std::vector<std::string>> groups = {
      {"ROLE", "GROUP", "STRATEGY", "BUNDLE", "NODE", "GPU", "CPU", "MEM"}};
  for (const PlannedGroup& pg : plan.groups) {
    for (size_t k = 0; k < pg.group.placed.size(); ++k) {
      const BundlePlacement& p = pg.group.placed[k];
      ResourceSet r;
      if (p.index >= 0 && static_cast<size_t>(p.index) < pg.group.bundles.size()) {
        r = pg.group.bundles[p.index];
      }
      const bool first = k == 0;
      std::string bundle = "#";  // appended: "#" + ... trips GCC 12's -Wrestrict
      bundle += std::to_string(p.index);
      groups.push_back({first ? pg.role : "", first ? pg.group.name : "",
                        first ? StrategyName(pg.group.strategy) : "", bundle, p.node,
                        placement::DeviceRanges(p.gpus), r.Get(kCpu).ToString(),
                        placement::HumanAmount(std::string(kMemory), r.Get(kMemory))});
    }
  }
  out += Table(groups);
  if (!plan.aliases.empty()) {
    out += "\nALIASES (fork: false; no process of their own)\n";
    for (const auto& [role, target] : plan.aliases) out += "  " + role + " -> " + target + "\n";
  }
  return out;
}

}  // namespace berth::formats
