#pragma once
// A CommandRunner for tests: each program (argv[0]) answers what the test
// scripted for it, and every call is recorded, so that the Slurm backend's
// logic runs without Slurm and without waiting.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/slurm/command.h"

namespace berth::testing {

class FakeCommandRunner final : public runtime::slurm::CommandRunner {
 public:
  using Argv = std::vector<std::string>;
  using Answer = std::function<runtime::slurm::CommandResult(const Argv&)>;

  // `program` answers with `answer(argv)` from now on.
  void On(const std::string& program, Answer answer) { answers_[program] = std::move(answer); }
  // `program` prints `out` and exits 0.
  void Prints(const std::string& program, std::string out) {
    On(program, [out = std::move(out)](const Argv&) {
      return runtime::slurm::CommandResult{0, out, ""};
    });
  }

  Result<runtime::slurm::CommandResult> Run(const Argv& argv,
                                            std::chrono::milliseconds /*timeout*/) override {
    calls_.push_back(argv);
    auto it = argv.empty() ? answers_.end() : answers_.find(argv[0]);
    if (it == answers_.end()) {
      // As a missing program: the backend's error path, and the test sees it.
      return BackendError("cannot run " + (argv.empty() ? std::string("?") : argv[0]) +
                          ": not scripted by the test");
    }
    return it->second(argv);
  }

  const std::vector<Argv>& calls() const { return calls_; }
  // The calls of one program.
  std::vector<Argv> CallsOf(const std::string& program) const {
    std::vector<Argv> out;
    for (const Argv& a : calls_) {
      if (!a.empty() && a[0] == program) out.push_back(a);
    }
    return out;
  }

 private:
  std::map<std::string, Answer> answers_;
  std::vector<Argv> calls_;
};

}  // namespace berth::testing
