#pragma once
// Runs a placement property case: every check after an op (CheckAll), an op
// list checked op by op (RunChecked), the minimizer and failure report for a
// failing case, and the statistics line each test prints.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/invariants.h"
#include "tests/property/op_sequence.h"
#include "tests/property/oracle_checks.h"
#include "tests/property/property_util.h"

namespace berth::property_test {

inline std::string CheckAll(const PlacementEngine& e, const std::vector<GroupView>& groups,
                            const std::vector<NodeView>& nodes, Tracker* tracker, const Op& op,
                            int step, bool oracle, Stats* stats) {
  for (const GroupView& g : groups) ++stats->states[static_cast<int>(g.state)];
  std::string err = CheckCapacity(groups, nodes);
  if (err.empty()) err = CheckStrict(groups);
  // Cheap enough after every op on small clusters.
  if (err.empty() && tracker && std::max(tracker->prev_nodes().size(), nodes.size()) <= 12) {
    err = CheckFirstPlacement(tracker->prev_groups(), tracker->prev_nodes(), op, groups, stats);
  }
  if (err.empty() && tracker) err = tracker->After(groups, op, step);
  if (tracker) tracker->Remember(groups, nodes);
  if (err.empty() && oracle) {
    Capacities caps = CapacitiesOf(nodes);
    err = CheckWaiting(groups, nodes, caps, stats);
    if (err.empty()) err = CheckExplain(e, groups, nodes, caps, stats);
  }
  return err;
}

inline std::string CheckAll(const PlacementEngine& e, Tracker* tracker, const Op& op, int step,
                            bool oracle, Stats* stats) {
  return CheckAll(e, e.Groups(), e.Nodes(), tracker, op, step, oracle, stats);
}

// ---------------------------------------------------------------- minimizing

// Returns "" when the op list passes (or is not a valid op list).
using CaseRunner = std::function<std::string(const std::vector<Op>&)>;

// Drops ops, then bundles, while the case still fails.
inline std::vector<Op> Minimize(std::vector<Op> ops, const CaseRunner& run) {
  for (size_t chunk = std::max<size_t>(1, ops.size() / 2);;
       chunk = std::max<size_t>(1, chunk / 2)) {
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i = 0; i + chunk <= ops.size();) {
        std::vector<Op> cand = ops;
        cand.erase(cand.begin() + static_cast<long>(i),
                   cand.begin() + static_cast<long>(i + chunk));
        if (!run(cand).empty()) {
          ops = std::move(cand);
          progress = true;
        } else {
          i += chunk;
        }
      }
    }
    if (chunk == 1) break;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind != Op::kCreate) continue;
    for (size_t b = 0; b < ops[i].group.bundles.size() && ops[i].group.bundles.size() > 1;) {
      std::vector<Op> cand = ops;
      cand[i].group.bundles.erase(cand[i].group.bundles.begin() + static_cast<long>(b));
      if (!run(cand).empty()) {
        ops = std::move(cand);
      } else {
        ++b;
      }
    }
  }
  return ops;
}

inline std::string FailureReport(uint64_t seed, const std::string& error,
                                 const std::vector<Op>& ops, const CaseRunner& run) {
  std::vector<Op> small = Minimize(ops, run);
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      test ? std::string(test->test_suite_name()) + "." + test->name() : std::string("...");
  return "seed " + std::to_string(seed) +
         " (rerun with BERTH_PROPERTY_SEED=" + std::to_string(seed) +
         " berth_tests --gtest_filter=" + filter + ")\n" + error + "\nops:\n" + DescribeAll(ops) +
         "minimized (fails with: " + run(small) + "):\n" + DescribeAll(small);
}

// Runs an op list with every check after every op (with `oracle`, the
// oracle's too); "" when it passes.
inline std::string RunChecked(const std::vector<Op>& ops, bool oracle, Stats* stats) {
  PlacementEngine e;
  Tracker tracker;
  for (size_t i = 0; i < ops.size(); ++i) {
    std::optional<GroupState> created;
    if (!Apply(e, ops[i], &created).empty()) return "";  // not a valid op list
    if (created && e.Group(ops[i].group.name)->state != *created) {
      return "CreateGroup returned " + std::string(GroupStateName(*created)) +
             " but the group shows " + GroupStateName(e.Group(ops[i].group.name)->state);
    }
    std::string err = CheckAll(e, &tracker, ops[i], static_cast<int>(i), oracle, stats);
    if (!err.empty())
      return "after op " + std::to_string(i) + " (" + Describe(ops[i]) + "): " + err;
  }
  return "";
}

inline void PrintStats(const char* what, const Stats& s, double seconds) {
  std::printf(
      "[%s] %.1fs scale=%.2f sequences=%ld ops=%ld waiting_proofs=%ld pending_totals=%ld "
      "infeasible_totals=%ld explained=%ld unverified=%ld out_of_scope=%ld agreement=%ld "
      "(created=%ld "
      "pack_opt=%ld spread_opt=%ld not_created=%ld) removal_restores=%ld determinism=%ld "
      "oracle_steps=%ld states(C/P/I/R/X)=%ld/%ld/%ld/%ld/%ld first_placements=%ld (opt=%ld)\n",
      what, seconds, Scale(), s.sequences, s.ops, s.waiting_proofs, s.pending_totals,
      s.infeasible_totals, s.explained, s.unverified, s.out_of_scope, s.agreement_cases,
      s.agreement_created, s.agreement_pack_opt, s.agreement_spread_opt, s.agreement_not_created,
      s.removal_restores, s.determinism_compares, s.oracle_steps, s.states[0], s.states[1],
      s.states[2], s.states[3], s.states[4], s.first_checks, s.first_opt);
}

}  // namespace berth::property_test
