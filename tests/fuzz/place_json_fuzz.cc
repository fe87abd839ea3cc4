// libFuzzer target for the `berth place` adapter: cluster and ops text in,
// parse, apply and render out. It must never crash, hang or leak, whatever
// the bytes.
//
// The input is the cluster text, then a separator (the first NUL byte or
// "\n---\n", whichever comes first), then the ops text. Without a separator
// both parsers see the whole input.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "berth/placement.h"
#include "formats/place_json.h"

namespace {

// Bounds that keep one run in milliseconds: the engine's search is
// exponential in the worst case, which is not what this target hunts.
constexpr size_t kMaxNodes = 64;
constexpr size_t kMaxOps = 64;
constexpr size_t kMaxBundles = 16;

void Split(std::string_view input, std::string_view* cluster, std::string_view* ops) {
  size_t nul = input.find('\0');
  size_t dashes = input.find("\n---\n");
  if (nul == std::string_view::npos && dashes == std::string_view::npos) {
    *cluster = *ops = input;
    return;
  }
  if (dashes < nul) {
    *cluster = input.substr(0, dashes);
    *ops = input.substr(dashes + 5);
  } else {
    *cluster = input.substr(0, nul);
    *ops = input.substr(nul + 1);
  }
}

bool WithinBounds(const std::vector<berth::NodeSpec>& nodes,
                  const std::vector<berth::formats::Op>& ops) {
  if (nodes.size() > kMaxNodes || ops.size() > kMaxOps) return false;
  for (const berth::formats::Op& op : ops) {
    if (op.group.bundles.size() > kMaxBundles) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view cluster_text, ops_text;
  Split(std::string_view(reinterpret_cast<const char*>(data), size), &cluster_text, &ops_text);
  auto nodes = berth::formats::ParseCluster(cluster_text, "cluster.json");
  auto ops = berth::formats::ParseOps(ops_text, "ops.json");
  if (!nodes || !ops || !WithinBounds(*nodes, *ops)) return 0;
  berth::PlacementEngine engine;
  if (!berth::formats::AddNodes(engine, *nodes, "cluster.json").ok()) return 0;
  // Render after a failed op too: the engine must stay consistent.
  berth::Status applied = berth::formats::ApplyOps(engine, *ops, "ops.json");
  (void)applied;
  // Both styles must be valid JSON and the same document: the pretty printer
  // is ours, and a bug there would only show as a broken output file.
  const std::string pretty = berth::formats::RenderState(engine);
  const std::string compact =
      berth::formats::RenderState(engine, berth::formats::JsonStyle::kCompact);
  auto a = nlohmann::json::parse(pretty, nullptr, /*allow_exceptions=*/false);
  auto b = nlohmann::json::parse(compact, nullptr, /*allow_exceptions=*/false);
  if (a.is_discarded() || b.is_discarded() || a != b) __builtin_trap();
  return 0;
}
