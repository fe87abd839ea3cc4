#pragma once
// Packing a node's GPU asks onto its devices. Whole asks take whole free
// devices; fractional asks share devices, packed onto as few as possible
// (fullest device that fits first), so whole devices stay free for others.
// Exact for the small numbers of asks one node sees: a depth-first search
// over bins with duplicate-capacity pruning, not first-fit.

#include <optional>
#include <span>
#include <vector>

#include "berth/placement.h"
#include "placement/cluster.h"

namespace berth::placement {

struct GpuAsk {
  int bundle = 0;   // caller's tag, returned as is
  Units units = 0;  // > 0: a multiple of kDevice, or below it
};

// Whether `asks` fit together on devices with `device_free`.
bool GpuAsksFit(std::span<const Units> device_free, std::span<const GpuAsk> asks);

// The devices each ask gets, in the order of `asks`; nullopt when they do not
// fit. Whole asks get ascending device ids in the order given.
std::optional<std::vector<std::vector<GpuShare>>> AssignGpus(std::span<const Units> device_free,
                                                             std::span<const GpuAsk> asks);

}  // namespace berth::placement
