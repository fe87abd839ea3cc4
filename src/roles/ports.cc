#include "roles/ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

namespace berth::roles {

PortSource CountingPorts(int base) {
  // std::function needs a copyable callable; copies share the counters.
  auto next = std::make_shared<std::map<std::string, int>>();
  return [next, base](const std::string& node) -> Result<int> {
    auto [it, inserted] = next->emplace(node, base);
    if (it->second > 65535) {
      return Unavailable("node \"" + node + "\": ran out of ports counting from " +
                         std::to_string(base));
    }
    return it->second++;
  };
}

namespace {

bool Binds(int port, bool reuse_addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int on = 1;
  if (reuse_addr && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    ::close(fd);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool CanBindPort(int port) { return Binds(port, /*reuse_addr=*/false); }

bool PortInUse(int port) { return !Binds(port, /*reuse_addr=*/true); }

PortSource LocalFreePorts(int lo, int hi) {
  struct State {
    int lo, hi, next;
    std::set<int> given;
  };
  if (lo < 1) lo = 1;
  if (hi > 65536) hi = 65536;
  if (hi <= lo) hi = lo + 1;
  // A start that differs from run to run spreads concurrent berth runs
  // apart; within one run the scan is sequential. (Clock and pid, not
  // std::random_device, which may throw.)
  const uint64_t seed =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (static_cast<uint64_t>(::getpid()) << 16);
  const int start = lo + static_cast<int>(std::mt19937_64(seed)() % static_cast<uint64_t>(hi - lo));
  auto state = std::make_shared<State>(State{lo, hi, start, {}});
  return [state](const std::string&) -> Result<int> {
    const int span = state->hi - state->lo;
    for (int tried = 0; tried < span; ++tried) {
      const int port = state->next;
      state->next = port + 1 == state->hi ? state->lo : port + 1;
      if (state->given.contains(port) || !CanBindPort(port)) continue;
      state->given.insert(port);
      return port;
    }
    return Unavailable("no free TCP port left in " + std::to_string(state->lo) + "-" +
                       std::to_string(state->hi - 1) + " on this machine (" +
                       std::to_string(state->given.size()) +
                       " handed out by this plan); free some, or run fewer workers");
  };
}

bool AllOnLoopback(const std::vector<NodeSpec>& nodes) {
  return std::ranges::all_of(nodes, [](const NodeSpec& n) {
    auto a = n.labels.find("address");
    return a != n.labels.end() && a->second.rfind("127.", 0) == 0;
  });
}

}  // namespace berth::roles
