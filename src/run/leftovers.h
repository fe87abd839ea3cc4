#pragma once
// What a local `berth run` killed with SIGKILL together with its supervisor
// leaves behind: the workers' detached descendants, still in the run's
// cgroup (state.json's "cgroup"). `berth down` and the next `berth run` on
// the run dir end them here.

#include <string>

#include "formats/run_state.h"

namespace berth::run {

// If `state` names a cgroup: checks that it is one berth made for that run
// (under the cgroup2 mount, named berth-<state.berth_pid>-<random>, a real
// cgroup2 directory) and that its berth no longer runs it (the supervisor in
// it is not berth's child); then kills what it holds (cgroup.kill), waits
// for it to empty, removes it, and prints "killed N process(es) left in
// cgroup X by berth pid P" when there were any. A cgroup that is gone or
// empty is removed silently; one that fails a check is left alone, saying
// why on stderr, as is one whose berth still runs. `who` begins the lines
// on stderr ("berth down"). Returns false when it found something it could
// not end.
bool EndLeftoverCgroup(const formats::RunState& state, const std::string& who);

}  // namespace berth::run
