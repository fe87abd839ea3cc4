#pragma once
// Readiness probes: is a worker's port accepting connections, does its HTTP
// endpoint answer 2xx. Each call is bounded by `timeout`.

#include <chrono>
#include <string>
#include <vector>

#include "berth/scheduler.h"

namespace berth::scheduler {

bool HttpReady(const std::string& address, int port, const std::string& path,
               std::chrono::milliseconds timeout);

// Many probes at once, all bounded by one `timeout`: every connect is started
// before any answer is awaited, so N workers cost about one round trip, not
// N. `path` empty: a TCP probe; else an HTTP GET that must answer 2xx.
// WorkerProbe::System() (berth/scheduler.h) is this and roles::PortInUse.
using ProbeTarget = ReadinessTarget;
std::vector<bool> ProbeMany(const std::vector<ProbeTarget>& targets,
                            std::chrono::milliseconds timeout);

}  // namespace berth::scheduler
