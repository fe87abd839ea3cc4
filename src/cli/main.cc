// berth: the command-line entry point. main only parses flags and hands each
// subcommand to its Run function; later subcommands (plan, run, status, down)
// register here the same way.

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cli/place_command.h"
#include "cli/plan_command.h"
#include "run/runner.h"

namespace {

using berth::cli::kExitBadInput;
using berth::cli::kExitInternal;
using berth::cli::kExitOk;

// A number of seconds from `lo` to `hi`. CLI::Range lets nan through (every
// comparison with it is false), and nan seconds would mean an instant
// SIGKILL or no wait at all.
CLI::Validator Seconds(double lo, double hi) {
  char range[64];
  std::snprintf(range, sizeof range, "%g to %g", lo, hi);
  const std::string allowed = range;
  return {[lo, hi, allowed](const std::string& text) -> std::string {
            char* end = nullptr;
            errno = 0;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || end == text.c_str() || *end != '\0' || errno == ERANGE ||
                !std::isfinite(v) || v < lo || v > hi) {
              return "\"" + text + "\" is not a number of seconds from " + allowed +
                     "; give one in that range";
            }
            return {};
          },
          "SECONDS " + allowed};
}

CLI::App* AddPlace(CLI::App& app, berth::cli::PlaceOptions& options) {
  CLI::App* cmd =
      app.add_subcommand("place",
                         "Apply placement ops to a cluster and print the final state as JSON.\n"
                         "On bad input, prints the offending field on stderr and exits 2.");
  cmd->add_option("--cluster", options.cluster_path,
                  R"(Cluster JSON: {"nodes": [{"name", "resources", "labels"}]})")
      ->required();
  cmd->add_option("--ops", options.ops_path,
                  "Ops JSON, applied in order: {\"ops\": [{\"op\": \"create\" | \"remove\" | "
                  "\"remove_node\" | \"add_node\", ...}]}")
      ->required();
  cmd->add_flag("--compact", options.compact, "Print the JSON on one line");
  cmd->add_option("--format", options.format, "Output: json (default) or text (for people)")
      ->check(CLI::IsMember({"json", "text"}));
  return cmd;
}

CLI::App* AddPlan(CLI::App& app, berth::cli::PlanOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Plan an experiment (a dry run): where each worker goes, its GPUs, ports, env and argv.\n"
      "Exits 2 on bad input and 3 when the experiment does not fit the cluster, with the\n"
      "reason on stderr.");
  cmd->add_option("experiment", options.experiment_path, "Experiment YAML (docs/experiment.md)")
      ->required();
  cmd->add_option("--cluster", options.cluster_path,
                  "Plan for this cluster JSON (the format of berth place) instead of the "
                  "experiment's cluster; ports are then counted from 30000 per node");
  cmd->add_flag("--json", options.json, "Print the plan as JSON");
  cmd->add_option("--html", options.html_path,
                  "Also write the placement map (nodes x GPUs, one self-contained page) to FILE; "
                  "written when the plan does not fit too, with the reason")
      ->type_name("FILE");
  cmd->add_option("--svg", options.svg_path, "Also write the placement map as an SVG image")
      ->type_name("FILE");
  cmd->add_option("--backend", options.backend,
                  "local (this machine, or --cluster) or slurm (the nodes Slurm has free now); "
                  "default: the experiment's backend");
  return cmd;
}

int Main(int argc, char** argv) {
  CLI::App app("berth: placement of RL jobs onto GPU clusters", "berth");
  app.require_subcommand(1);
  berth::cli::PlaceOptions place_options;
  CLI::App* place = AddPlace(app, place_options);
  berth::cli::PlanOptions plan_options;
  CLI::App* plan = AddPlan(app, plan_options);
  berth::run::RunOptions run_options;
  CLI::App* run = app.add_subcommand(
      "run", "Run an experiment's workers on this machine until Ctrl-C, SIGTERM or `berth down`.");
  run->add_option("experiment", run_options.experiment_path, "Experiment YAML")->required();
  run->add_option("--run-dir", run_options.run_dir,
                  "Where state.json and the logs go (default: berth-runs/<name>-<time>-<pid>)");
  run->add_option("--backend", run_options.backend,
                  "local (this machine) or slurm (steps of one Slurm allocation); default: the "
                  "experiment's backend");
  run->add_option("--grace", run_options.grace_s,
                  "Seconds between SIGTERM and SIGKILL at teardown (default 5)")
      ->check(Seconds(0, 600));
  std::string status_dir;
  CLI::App* status = app.add_subcommand(
      "status",
      "Show a run's workers: live from its berth run (control API), else from state.json.");
  status->add_option("run_dir", status_dir, "The run dir that `berth run` printed")->required();
  bool status_web = false;
  status->add_flag("--web", status_web,
                   "Print the URL of the live status page in a browser (the token in its "
                   "#fragment) instead of the table");
  std::string events_dir;
  bool events_follow = false;
  bool events_json = false;
  CLI::App* events = app.add_subcommand(
      "events", "Show what happened to a run's workers: failures, restarts, drops (events.jsonl).");
  events->add_option("run_dir", events_dir, "The run dir that `berth run` printed")->required();
  events->add_flag("-f,--follow", events_follow,
                   "Then show new events until the run's berth exits");
  events->add_flag("--json", events_json, "One JSON object a line, as written");
  std::string down_dir;
  double down_timeout = 60;
  CLI::App* down = app.add_subcommand("down", "Stop a run and wait until its workers are gone.");
  down->add_option("run_dir", down_dir, "The run dir that `berth run` printed")->required();
  down->add_option("--timeout", down_timeout, "Seconds to wait (default 60)")
      ->check(Seconds(0, 3600));
  std::string scale_dir;
  std::string scale_role;
  int scale_replicas = 0;
  std::optional<double> scale_timeout;
  CLI::App* scale = app.add_subcommand(
      "scale",
      "Grow or shrink a separate or deferred role of a running experiment by instances.\n"
      "Exits 2 on bad input and 3 when the new instances do not fit, with the reason.");
  scale->add_option("run_dir", scale_dir, "The run dir that `berth run` printed")->required();
  scale->add_option("role", scale_role, "The role to scale")->required();
  scale->add_option("replicas", scale_replicas, "Its number of instances from now on")
      ->required()
      ->check(CLI::Range(1, 65536));
  scale
      ->add_option("--timeout", scale_timeout,
                   "Seconds to wait for the new instances (default: each worker's startup "
                   "timeout)")
      ->check(Seconds(0, 3600));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // exit() prints the help (for --help) or the error; CLI11's own codes
    // for errors (100+) are folded into ours: bad flags are bad input.
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  if (place->parsed()) return berth::cli::RunPlace(place_options);
  if (plan->parsed()) return berth::cli::RunPlan(plan_options);
  if (run->parsed()) return berth::run::RunExperiment(run_options);
  if (status->parsed()) {
    return status_web ? berth::run::ShowStatusWeb(status_dir) : berth::run::ShowStatus(status_dir);
  }
  if (down->parsed()) return berth::run::Down(down_dir, down_timeout);
  if (scale->parsed()) {
    return berth::run::Scale(scale_dir, scale_role, scale_replicas, scale_timeout);
  }
  if (events->parsed()) return berth::run::ShowEvents(events_dir, events_follow, events_json);
  return kExitBadInput;  // unreachable: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  // No exception leaves berth; one reaching here is a bug (or out of memory).
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "berth: internal error: unknown exception\n");
  }
  return kExitInternal;
}
