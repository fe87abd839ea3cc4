// This machine as a node, on the public API (include/berth/local.h): the
// detection of local_node.cc with the caller's declared values.

#include "berth/local.h"
#include "runtime/local/local_node.h"

namespace berth {

Result<NodeSpec> LocalMachineNode(const LocalResources& declared) {
  runtime::local::LocalOverrides overrides;
  overrides.gpus = declared.gpus;
  overrides.cpu = declared.cpu;
  overrides.mem_gib = declared.mem_gib;
  return runtime::local::LocalNode(runtime::local::DetectMachine(), overrides);
}

}  // namespace berth
