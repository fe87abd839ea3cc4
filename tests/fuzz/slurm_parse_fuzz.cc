// libFuzzer target for the Slurm output parsers (src/runtime/slurm/slurm_parse.h):
// every parser reads the whole input. None may crash, hang or leak, and what
// they accept must hold together: hostlists within their bound, index lists
// ascending, nodes that the placement engine takes as they are.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "berth/placement.h"
#include "runtime/slurm/slurm_parse.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace slurm = berth::runtime::slurm;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto hosts = slurm::ExpandHostlist(in)) {
    Check(hosts->size() <= slurm::kMaxHosts);
  }
  if (auto ids = slurm::ParseIndexList(in, "fuzz")) {
    for (size_t i = 0; i < ids->size(); ++i) {
      Check((*ids)[i] >= 0 && (*ids)[i] < slurm::kMaxIndex);
      Check(i == 0 || (*ids)[i - 1] < (*ids)[i]);
    }
  }
  (void)slurm::ParseGres(in, "fuzz");
  (void)slurm::ParseGpuIndices(in, "fuzz");
  slurm::NodeStatus st = slurm::ParseNodeState(in);
  Check(st.usable == st.unusable_reason.empty());
  (void)slurm::ParseJobState(in);
  (void)slurm::ClientError("fuzz", 1, in);

  if (auto nodes = slurm::ParseSinfo(in, "fuzz")) {
    berth::PlacementEngine engine;
    std::set<std::string> names;
    for (const slurm::SlurmNode& n : *nodes) {
      Check(names.insert(n.spec.name).second);  // one entry per node
      Check(n.status.usable == n.status.unusable_reason.empty());
      Check(engine.AddNode(n.spec).ok());
    }
  }
  if (auto jobs = slurm::ParseSqueue(in, "fuzz")) {
    for (const slurm::SlurmJob& j : *jobs) Check(!j.job_id.empty() && !j.display_id.empty());
  }
  if (auto steps = slurm::ParseSqueueSteps(in, "fuzz")) {
    for (const slurm::SlurmStep& s : *steps) Check(s.step_id == s.job_id + "." + s.step);
  }
  return 0;
}
