#pragma once
// The engine's Explanation for people: the one place where an explanation
// becomes text. The reason line is the error's message (or `berth place`'s
// "why:"); below it, one line per node with its verdict and, where the node
// cannot take the group, the first resource short (memory in GiB). Every
// surface that shows an error (`berth plan`, `berth run`, the control API's
// and Python's message) shows ErrorText.

#include <string>
#include <string_view>

#include "berth/placement.h"
#include "berth/status.h"

namespace berth::placement {

// At most this many nodes are listed; the rest are counted.
inline constexpr size_t kMaxNodesInText = 20;

// "  nodes: 0 fit now, 1 full now, 3 never fit\n    n0  full_now  bundle 0: GPU needs 2, has
// 1\n..." Each line starts with `indent` and two spaces, and ends with '\n'.
std::string ExplanationText(const Explanation& e, std::string_view indent = "");

// An error for people: its message, then, when it carries an explanation,
// the per-node lines of ExplanationText (no '\n' at the end).
std::string ErrorText(const Status& error);

// What keeps a full_now or never_fits node from the bundle: "GPU needs 2, has
// free 1", or, for a label selector that rules the node out, "labels: rack: a".
std::string ShortfallText(const NodeExplanation& n);

// A quantity of `resource` for people: memory as "1.5 GiB", else the number.
std::string HumanAmount(const std::string& resource, Quantity q);

// GPU devices for people: "0-3" for whole devices 0..3, "2:0.5" for a
// share, "-" for none.
std::string DeviceRanges(const std::vector<GpuShare>& gpus);

}  // namespace berth::placement
