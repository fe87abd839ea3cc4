#pragma once
// The engine's Explanation for people: the reason, then one line per node
// with its verdict and, where the node cannot take the group, the first
// resource short (memory in GiB). Used in `berth plan`'s "does not fit"
// errors.

#include <string>

#include "berth/placement.h"

namespace berth::placement {

// At most this many nodes are listed; the rest are counted.
inline constexpr size_t kMaxNodesInText = 20;

// "  nodes: 0 fit now, 1 full now, 3 never fit\n    n0  full_now  bundle 0: GPU needs 2, has
// 1\n..." Each line starts with two spaces and ends with '\n'.
std::string ExplanationText(const Explanation& e);

// A quantity of `resource` for people: memory as "1.5 GiB", else the number.
std::string HumanAmount(const std::string& resource, Quantity q);

// GPU devices for people: "0-3" for whole devices 0..3, "2:0.5" for a
// share, "-" for none.
std::string DeviceRanges(const std::vector<GpuShare>& gpus);

}  // namespace berth::placement
