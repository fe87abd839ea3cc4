// berth: the command-line entry point. main only parses flags and hands each
// subcommand to its Run function; later subcommands (plan, run, status, down)
// register here the same way.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/place_command.h"

namespace {

using berth::cli::kExitBadInput;
using berth::cli::kExitInternal;
using berth::cli::kExitOk;

CLI::App* AddPlace(CLI::App& app, berth::cli::PlaceOptions& options) {
  CLI::App* cmd =
      app.add_subcommand("place",
                         "Apply placement ops to a cluster and print the final state as JSON.\n"
                         "On bad input, prints the offending field on stderr and exits 2.");
  cmd->add_option("--cluster", options.cluster_path,
                  "Cluster JSON: {\"nodes\": [{\"name\", \"resources\", \"labels\"}]}")
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

int Main(int argc, char** argv) {
  CLI::App app("berth: placement of RL jobs onto GPU clusters", "berth");
  app.require_subcommand(1);
  berth::cli::PlaceOptions place_options;
  CLI::App* place = AddPlace(app, place_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // exit() prints the help (for --help) or the error; CLI11's own codes
    // for errors (100+) are folded into ours: bad flags are bad input.
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  if (place->parsed()) return berth::cli::RunPlace(place_options);
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
