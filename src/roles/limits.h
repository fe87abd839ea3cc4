#pragma once
// Bounds on an experiment. They keep every product and sum far from
// overflow and a plan's size in check; none is near what a real job needs.

namespace berth::roles {

inline constexpr int kMaxReplicas = 65536;
// tp, pp and tp*pp.
inline constexpr int kMaxInstance = 65536;
inline constexpr double kMaxStartupTimeoutS = 7 * 24 * 3600;
// on_failure's restart budget: restarts per window, the window, the backoff.
inline constexpr int kMaxRestarts = 10000;
inline constexpr double kMaxRestartWindowS = 30 * 24 * 3600;
inline constexpr double kMaxBackoffS = 3600;
// The engine's limit of GPU devices on one node.
inline constexpr int kMaxLocalGpus = 1024;

}  // namespace berth::roles
