// The public PortSources (include/berth/ports.h): the roles layer's own.

#include <vector>

#include "berth/ports.h"
#include "roles/ports.h"

namespace berth {

PortSource CountingPorts(int base) { return roles::CountingPorts(base); }

PortSource LocalFreePorts(int lo, int hi) { return roles::LocalFreePorts(lo, hi); }

bool AllOnLoopback(const std::vector<NodeSpec>& nodes) { return roles::AllOnLoopback(nodes); }

}  // namespace berth
