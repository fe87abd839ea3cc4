#pragma once
// The two PortSources (include/berth/plan.h):
//  - CountingPorts, for planning another cluster: base, base+1, ... per node,
//    so the same experiment gives the same plan byte for byte.
//  - LocalFreePorts, for running on this machine: ports that are free now
//    (bind-tested) and never handed out twice by this source.

#include <vector>

#include "berth/plan.h"

namespace berth::roles {

inline constexpr int kCountingPortBase = 30000;

// Each node counts on its own from `base`. Errors (kUnavailable) past 65535.
PortSource CountingPorts(int base = kCountingPortBase);

// Scans [lo, hi) from a random start, wrapping, and returns the first port
// that can be bound on every IPv4 address (INADDR_ANY, no SO_REUSEADDR: the
// strictest test, so a worker that binds 0.0.0.0 or 127.0.0.1 finds it free)
// and was not returned before. The default range stays below Linux's
// ephemeral ports (32768-60999), which outgoing connections take at random,
// and matches AReaL's (10000, 32767) upper bound. A port is only free when
// tested: something else may take it before the worker binds it (a worker
// should fail loudly then, and berth run may retry). `node` is ignored: the
// source is for this machine. Errors (kUnavailable) when the range is spent.
PortSource LocalFreePorts(int lo = 20000, int hi = 32768);

// Whether every node's address (label "address") is a loopback address of
// this machine, as on a test Slurm: their ports are this machine's, so
// LocalFreePorts applies to them.
bool AllOnLoopback(const std::vector<NodeSpec>& nodes);

// True if a TCP socket can bind `port` on INADDR_ANY right now. A
// connection lingering in TIME_WAIT on the port counts against it: a port to
// hand out must suit a worker that binds without SO_REUSEADDR.
bool CanBindPort(int port);

// True if another socket holds `port`: a bind with SO_REUSEADDR, as servers
// bind, fails (something listens on it, or is bound without SO_REUSEADDR).
// A connection that a server which has exited left in TIME_WAIT does not
// count: that server could bind the port again.
bool PortInUse(int port);

}  // namespace berth::roles
