#include "cli/place_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "berth/status.h"
#include "cli/place_text.h"
#include "common/read_file.h"
#include "formats/place_json.h"

namespace berth::cli {
namespace {

Result<std::string> Place(const PlaceOptions& options) {
  // Read and check both files before running anything, so that a typo in
  // the ops file is reported without waiting for the placement.
  BERTH_ASSIGN_OR_RETURN(
      std::string cluster_text,
      common::ReadFile(options.cluster_path, common::kMaxJsonInputBytes, "a cluster file"));
  BERTH_ASSIGN_OR_RETURN(
      std::string ops_text,
      common::ReadFile(options.ops_path, common::kMaxJsonInputBytes, "an ops file"));
  BERTH_ASSIGN_OR_RETURN(std::vector<NodeSpec> nodes,
                         formats::ParseCluster(cluster_text, options.cluster_path));
  BERTH_ASSIGN_OR_RETURN(std::vector<formats::Op> ops,
                         formats::ParseOps(ops_text, options.ops_path));
  PlacementEngine engine;
  BERTH_RETURN_IF_ERROR(formats::AddNodes(engine, nodes, options.cluster_path));
  BERTH_RETURN_IF_ERROR(formats::ApplyOps(engine, ops, options.ops_path));
  if (options.format == "text") return RenderText(engine);
  return formats::RenderState(
      engine, options.compact ? formats::JsonStyle::kCompact : formats::JsonStyle::kPretty);
}

}  // namespace

int RunPlace(const PlaceOptions& options) {
  Result<std::string> out = Place(options);
  if (!out) {
    std::fprintf(stderr, "%s\n", out.error().message().c_str());
    return out.error().code() == ErrorCode::kInternal ? kExitInternal : kExitBadInput;
  }
  // The whole document is built before the first byte goes out, so an error
  // above leaves stdout empty.
  if (std::fwrite(out->data(), 1, out->size(), stdout) != out->size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "berth place: writing the result failed: %s\n", std::strerror(errno));
    return kExitInternal;
  }
  return kExitOk;
}

}  // namespace berth::cli
