#pragma once
// The two PortSources (include/berth/plan.h) that MakePlan and the Scheduler
// take. Implemented in roles. Nothing here throws.

#include <vector>

#include "berth/placement.h"
#include "berth/plan.h"

namespace berth {

// For planning a cluster that is not this machine: ports base, base+1, ...
// counted per node, so that the same experiment gives the same plan byte for
// byte. Errors (kUnavailable) past 65535.
PortSource CountingPorts(int base = 30000);

// For running on this machine: ports of [lo, hi) that can be bound on every
// IPv4 address now, scanned from a random start, never handed out twice by
// the same source. The default range stays below Linux's ephemeral ports. A
// port is only free when tested: a worker should fail loudly when another
// process takes it first. `node` is ignored. Errors (kUnavailable) when the
// range is spent.
PortSource LocalFreePorts(int lo = 20000, int hi = 32768);

// Whether every node's label "address" is a loopback address (127.x.y.z):
// their ports are this machine's, so LocalFreePorts applies to them. A node
// without the label is not on loopback.
bool AllOnLoopback(const std::vector<NodeSpec>& nodes);

}  // namespace berth
