#pragma once
// A human-readable rendering of the engine's state, for people at a
// terminal (`berth place --format text`); JSON stays the format for programs.

#include <string>

#include "berth/placement.h"

namespace berth::cli {

std::string RenderText(const PlacementEngine& engine);

}  // namespace berth::cli
