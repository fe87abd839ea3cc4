#include "runtime/slurm/step.h"

#include <algorithm>
#include <set>

#include "runtime/slurm/slurm_parse.h"

namespace berth::runtime::slurm {
namespace {

// Keeps the listed positions of the step's CUDA_VISIBLE_DEVICES, then execs
// the worker. The local supervisor's marker is dropped: the task belongs to
// Slurm, which must stop it (on a one-machine test cluster the supervisor
// would otherwise find and kill it itself, hiding a teardown bug). $1: positions ("0,2"); the rest:
// the worker's argv. User values only ever arrive as arguments.
constexpr char kStepScript[] =
    "unset BERTH_SUPERVISOR_TOKEN; set -f; p=$1; shift; n=; IFS=,; "
    "for i in $p; do k=0; for d in $CUDA_VISIBLE_DEVICES; do "
    "[ \"$k\" = \"$i\" ] && n=${n:+$n,}$d; k=$((k+1)); done; done; "
    "unset IFS; CUDA_VISIBLE_DEVICES=$n; export CUDA_VISIBLE_DEVICES; exec \"$@\"";

int64_t CeilUnits(Quantity q, int64_t unit_units) {
  return (q.units() + unit_units - 1) / unit_units;
}

}  // namespace

std::vector<NodeRequest> NodeRequests(const Plan& plan) {
  std::vector<NodeRequest> out;
  std::map<std::string, size_t> at;
  std::map<std::string, std::pair<Quantity, Quantity>> sums;  // cpu, memory bytes
  std::map<std::string, std::set<int>> devices;
  for (const PlannedGroup& g : plan.groups) {
    for (const BundlePlacement& b : g.group.placed) {
      if (at.emplace(b.node, out.size()).second) out.push_back({b.node, 0, 0, {}});
      const ResourceSet& r = g.group.bundles[b.index];
      sums[b.node].first = sums[b.node].first + r.Get(kCpu);
      sums[b.node].second = sums[b.node].second + r.Get(kMemory);
      for (const GpuShare& s : b.gpus) devices[b.node].insert(s.device);
    }
  }
  for (NodeRequest& n : out) {
    n.cpus = std::max<int64_t>(1, CeilUnits(sums[n.node].first, Quantity::kScale));
    n.mem_mb = std::max<int64_t>(1, CeilUnits(sums[n.node].second, Quantity::kScale << 20));
    n.gpus.assign(devices[n.node].begin(), devices[n.node].end());
  }
  return out;
}

bool Homogeneous(const std::vector<NodeRequest>& nodes) {
  return std::ranges::all_of(nodes, [&](const NodeRequest& n) {
    return n.cpus == nodes[0].cpus && n.mem_mb == nodes[0].mem_mb &&
           n.gpus.size() == nodes[0].gpus.size();
  });
}

std::vector<std::string> HolderArgv(const std::string& job_name, const std::string& partition,
                                    const std::vector<NodeRequest>& nodes, const std::string& log,
                                    const std::string& script,
                                    const std::vector<std::string>& script_args) {
  std::vector<std::string> a = {"sbatch", "--parsable", "--job-name=" + job_name, "--no-requeue",
                                "--output=" + log};
  if (nodes.size() > 1 && Homogeneous(nodes)) {
    std::string list;
    for (const NodeRequest& n : nodes) list += (list.empty() ? "" : ",") + n.node;
    const NodeRequest& n = nodes[0];
    // A node lost does not end the job: its other nodes run on, and
    // berth restarts what stood on the lost one (Slurm ends a heterogeneous
    // job whole, --no-kill or not: measured on Slurm 22.05).
    a.emplace_back("--no-kill");
    a.insert(a.end(), {"--nodes=" + std::to_string(nodes.size()), "--ntasks-per-node=1",
                       "--nodelist=" + list, "--cpus-per-task=" + std::to_string(n.cpus),
                       "--mem=" + std::to_string(n.mem_mb) + "M"});
    if (!n.gpus.empty()) a.push_back("--gres=gpu:" + std::to_string(n.gpus.size()));
    if (!partition.empty()) a.push_back("--partition=" + partition);
    a.push_back(script);
    a.insert(a.end(), script_args.begin(), script_args.end());
    return a;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeRequest& n = nodes[i];
    if (i > 0) a.emplace_back(":");
    a.insert(a.end(), {"--nodes=1", "--ntasks=1", "--nodelist=" + n.node,
                       "--cpus-per-task=" + std::to_string(n.cpus),
                       "--mem=" + std::to_string(n.mem_mb) + "M"});
    if (!n.gpus.empty()) a.push_back("--gres=gpu:" + std::to_string(n.gpus.size()));
    if (!partition.empty()) a.push_back("--partition=" + partition);
  }
  a.push_back(script);
  a.insert(a.end(), script_args.begin(), script_args.end());
  return a;
}

std::vector<std::string> StepArgv(const std::string& job_id, int het_group, const std::string& node,
                                  const std::string& worker_id,
                                  const std::vector<int>& gpu_positions,
                                  const std::vector<std::string>& argv) {
  std::vector<std::string> a = {"srun", "--jobid=" + job_id};
  if (het_group >= 0) a.push_back("--het-group=" + std::to_string(het_group));
  a.insert(a.end(), {"--nodes=1", "--ntasks=1", "--nodelist=" + node, "--overlap", "--unbuffered",
                     "--job-name=" + worker_id, "--", "/bin/sh", "-c", kStepScript, "berth-step"});
  std::string pos;
  for (int p : gpu_positions) pos += (pos.empty() ? "" : ",") + std::to_string(p);
  a.push_back(pos);
  a.insert(a.end(), argv.begin(), argv.end());
  return a;
}

std::vector<int> Positions(const std::vector<int>& devices, const std::vector<int>& node_devices) {
  std::vector<int> out;
  for (int d : devices) {
    auto it = std::lower_bound(node_devices.begin(), node_devices.end(), d);
    if (it != node_devices.end() && *it == d) {
      out.push_back(static_cast<int>(it - node_devices.begin()));
    }
  }
  return out;
}

Result<std::map<std::string, std::vector<int>>> ParseGrantedGpus(std::string_view text,
                                                                 std::string_view source) {
  std::map<std::string, std::vector<int>> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.substr(0, 6) != "Nodes=") continue;
    const size_t sp = line.find(' ');
    const std::string_view nodes =
        line.substr(6, sp == std::string_view::npos ? std::string_view::npos : sp - 6);
    const size_t g = line.find(" GRES=");
    std::vector<int> indices;
    if (g != std::string_view::npos) {
      std::string_view gres = line.substr(g + 6);
      const size_t e = gres.find(' ');
      if (e != std::string_view::npos) gres = gres.substr(0, e);
      BERTH_ASSIGN_OR_RETURN(indices, ParseGpuIndices(gres, source));
    }
    BERTH_ASSIGN_OR_RETURN(std::vector<std::string> names, ExpandHostlist(nodes));
    for (const std::string& n : names) {
      std::vector<int>& v = out[n];
      v.insert(v.end(), indices.begin(), indices.end());
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
    }
  }
  return out;
}

}  // namespace berth::runtime::slurm
