#include "cli/plan_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/plan.h"
#include "cli/output_file.h"
#include "common/read_file.h"
#include "formats/place_json.h"
#include "formats/plan_map.h"
#include "formats/plan_render.h"
#include "placement/explain_text.h"
#include "roles/ports.h"
#include "runtime/local/local_node.h"
#include "runtime/slurm/allocation.h"
#include "runtime/slurm/slurm_fit.h"

namespace berth::cli {
namespace {

struct Cluster {
  std::vector<NodeSpec> nodes;
  std::string description;
  bool local = false;
};

Result<Cluster> LoadCluster(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(std::string text,
                         common::ReadFile(path, common::kMaxJsonInputBytes, "a cluster file"));
  Cluster c;
  BERTH_ASSIGN_OR_RETURN(c.nodes, formats::ParseCluster(text, path));
  c.description = std::to_string(c.nodes.size()) + " nodes of " + path;
  return c;
}

struct Output {
  std::string text;
  std::vector<std::string> warnings;
};

// What the placement map is drawn from, filled as soon as it is known: a
// plan that does not fit still has its cluster to draw.
struct MapSource {
  std::string experiment;
  Cluster cluster;
  bool cluster_known = false;
  berth::Plan plan;
};

// The experiment fits the Slurm nodes as configured, not what they have free
// now: `berth run` would submit it and it would wait in the queue.
Status Pending(const std::string& path, const ExperimentSpec& experiment,
               const runtime::slurm::SlurmFit& fit) {
  std::string busy;
  for (const std::string& b : fit.busy) busy += "\n    " + b;
  char timeout[32];
  std::snprintf(timeout, sizeof timeout, "%g", experiment.slurm.queue_timeout_s);
  return Unavailable(path +
                     ": PENDING: the experiment fits the Slurm nodes as configured but not what "
                     "they have free now; berth run would submit it and wait in the queue (up "
                     "to slurm.queue_timeout, " +
                     std::string(timeout) + " s) until other jobs release:" + busy);
}

// On an error, `note` may get one more line for people (after the error).
Result<Output> Plan(const PlanOptions& options, std::string* note, MapSource* map) {
  const std::string& path = options.experiment_path;
  BERTH_ASSIGN_OR_RETURN(std::string text,
                         common::ReadFile(path, common::kMaxExperimentBytes, "an experiment file"));
  BERTH_ASSIGN_OR_RETURN(ExperimentSpec experiment, ParseExperiment(text, path));
  map->experiment = experiment.name;

  Output out;
  Cluster cluster;
  if (!options.backend.empty() && options.backend != "local" && options.backend != "slurm") {
    return InvalidSpec("--backend: \"" + options.backend +
                       "\" is not a backend; use local or slurm");
  }
  const bool slurm =
      options.backend.empty() ? experiment.backend == Backend::kSlurm : options.backend == "slurm";
  if (slurm && !options.cluster_path.empty()) {
    return InvalidSpec("--cluster and the slurm backend both name the cluster; give one");
  }
  if (slurm) {
    std::vector<std::string> skipped;
    BERTH_ASSIGN_OR_RETURN(cluster.nodes,
                           runtime::slurm::ReadCluster(experiment.slurm.partition, &skipped));
    for (const std::string& s : skipped) out.warnings.push_back("slurm node left out: " + s);
    cluster.description = std::to_string(cluster.nodes.size()) +
                          " usable Slurm node(s), free capacity now (GPU ids are ranks; the "
                          "devices are the ones Slurm grants at run time)";
  } else if (!options.cluster_path.empty()) {
    if (experiment.cluster_file || experiment.gpus || experiment.cpu || experiment.mem_gib) {
      out.warnings.push_back("--cluster " + options.cluster_path +
                             " replaces the experiment's cluster");
    }
    BERTH_ASSIGN_OR_RETURN(cluster, LoadCluster(options.cluster_path));
  } else if (experiment.cluster_file) {
    BERTH_ASSIGN_OR_RETURN(cluster,
                           LoadCluster(common::BesideFile(path, *experiment.cluster_file)));
  } else {
    const runtime::local::LocalOverrides overrides{experiment.gpus, experiment.cpu,
                                                   experiment.mem_gib};
    const runtime::local::MachineInfo machine = runtime::local::DetectMachine();
    Result<NodeSpec> node = runtime::local::LocalNode(machine, overrides);
    if (!node) return InvalidSpec(path + ": " + node.error().message());
    cluster.description = "this machine, " + runtime::local::Describe(*node, machine, overrides);
    cluster.nodes.push_back(std::move(node).value());
    cluster.local = true;
  }

  // Nodes that share this machine's loopback (a test Slurm) share its ports:
  // plan free ones, as berth run does.
  map->cluster = cluster;
  map->cluster_known = true;
  const bool loopback = slurm && roles::AllOnLoopback(cluster.nodes);
  const PortSource ports =
      cluster.local || loopback ? roles::LocalFreePorts() : roles::CountingPorts();
  if (slurm && cluster.nodes.empty()) {
    return Unavailable(path + ": Slurm has no usable node" +
                       (experiment.slurm.partition.empty()
                            ? std::string()
                            : " in partition " + experiment.slurm.partition) +
                       " (see the warnings)");
  }
  Result<berth::Plan> plan = Internal("not planned");
  if (slurm) {
    // Busy nodes make the job wait in the queue; they are not "never fits".
    Result<runtime::slurm::SlurmFit> fit =
        runtime::slurm::PlanOnSlurm(experiment, cluster.nodes, ports);
    if (fit && fit->pending) return Pending(path, experiment, *fit);
    plan = fit ? Result<berth::Plan>(std::move(fit->plan)) : Result<berth::Plan>(fit.error());
  } else {
    plan = MakePlan(experiment, cluster.nodes, ports);
  }
  if (!plan) {
    // The usual first stumble: planning a GPU experiment on a laptop.
    if (cluster.local && plan.error().code() == ErrorCode::kInfeasible && !experiment.gpus &&
        !cluster.nodes[0].resources.Has(kGpu)) {
      *note =
          "(no GPU was found on this machine; to plan or run anyway, declare some in the "
          "experiment: cluster: {gpus: 8})";
    }
    return plan.error().WithPrefix(path + ": ");
  }
  for (const std::string& w : plan->warnings) out.warnings.push_back(path + ": " + w);
  out.text = options.json
                 ? formats::PlanJson(experiment.name, *plan)
                 : formats::PlanText(experiment.name, *plan, cluster.nodes, cluster.description);
  map->plan = std::move(plan).value();
  return out;
}

int ExitCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInfeasible:
    case ErrorCode::kUnavailable:
      return kExitDoesNotFit;
    case ErrorCode::kInternal:
    case ErrorCode::kBackend:
      return kExitInternal;
    default:
      return kExitBadInput;
  }
}

// The map files asked for: of the plan, or of the cluster and the group not
// placed (`not_placed`) when it does not fit.
Status WriteMaps(const PlanOptions& options, const MapSource& map, const Status* not_placed) {
  if (options.html_path.empty() && options.svg_path.empty()) return Status::Ok();
  formats::PlanMapInput input{map.experiment, map.cluster.description, &map.plan,
                              &map.cluster.nodes, not_placed};
  if (!options.html_path.empty()) {
    BERTH_RETURN_IF_ERROR(
        WriteFileAtomically("--html", options.html_path, formats::PlanHtml(input)));
  }
  if (!options.svg_path.empty()) {
    BERTH_RETURN_IF_ERROR(WriteFileAtomically("--svg", options.svg_path, formats::PlanSvg(input)));
  }
  return Status::Ok();
}

}  // namespace

int RunPlan(const PlanOptions& options) {
  if (!options.html_path.empty() && options.html_path == options.svg_path) {
    std::fprintf(stderr, "--html and --svg both name %s; give each its own file\n",
                 options.html_path.c_str());
    return kExitBadInput;
  }
  std::string note;
  MapSource map;
  Result<Output> out = Plan(options, &note, &map);
  if (!out) {
    // The message, then the engine's per-node breakdown when it is a placement.
    std::fprintf(stderr, "%s\n", placement::ErrorText(out.error()).c_str());
    if (!note.empty()) std::fprintf(stderr, "  %s\n", note.c_str());
    const int code = ExitCode(out.error().code());
    // A plan that does not fit is still drawn: the nodes and what each lacks.
    if (code == kExitDoesNotFit && map.cluster_known) {
      const Status written = WriteMaps(options, map, &out.error());
      if (!written.ok()) std::fprintf(stderr, "%s\n", written.message().c_str());
    }
    return code;
  }
  if (Status written = WriteMaps(options, map, nullptr); !written.ok()) {
    std::fprintf(stderr, "%s\n", written.message().c_str());
    return ExitCode(written.code());
  }
  for (const std::string& w : out->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::string& text = out->text;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "berth plan: writing the result failed: %s\n", std::strerror(errno));
    return kExitInternal;
  }
  return kExitOk;
}

}  // namespace berth::cli
