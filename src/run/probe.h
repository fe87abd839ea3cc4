#pragma once
// Readiness probes: is a worker's port accepting connections, does its HTTP
// endpoint answer 2xx. Each call is bounded by `timeout`.

#include <chrono>
#include <string>

namespace berth::run {

bool TcpReady(const std::string& address, int port, std::chrono::milliseconds timeout);
bool HttpReady(const std::string& address, int port, const std::string& path,
               std::chrono::milliseconds timeout);

}  // namespace berth::run
