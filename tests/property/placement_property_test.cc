// Property tests of the placement engine, with fixed seeds.
//
// Random clusters and random op sequences (create / remove group, add /
// remove node, purge), with CPU, memory, a custom resource, whole and
// fractional GPUs and all four strategies. After every op the engine's public
// state is checked against invariants reconstructed from the outside, and
// against an exhaustive oracle (tests/property/brute_force.h) that shares no
// code with the solver:
//
//   1. Capacity: per node and resource, placed demand <= total and available
//      == total - placed exactly; per GPU device, shares <= 1 and free == 1 -
//      shares exactly; whole-GPU bundles get GPU distinct whole devices,
//      fractional ones one device with their fraction; whole-GPU bundles of
//      one group placed on one node in one go get ascending device ids in
//      bundle order. Placed bundles never move.
//   2. Strict strategies: STRICT_PACK on one node, STRICT_SPREAD on distinct
//      nodes (also while and after rescheduling).
//   3. Removing every group gives back exactly every node's capacity.
//   4. No PENDING / RESCHEDULING group fits the free capacity (oracle, with
//      the pinned nodes); INFEASIBLE groups fit no empty cluster, PENDING ones
//      do.
//   5. On small instances with random pre-existing load, a new group is
//      CREATED iff the oracle finds a placement; PACK uses the fewest nodes
//      possible, SPREAD the most. The same holds in every op sequence for
//      the first group each op places (a new group; or, after a node loss, a
//      node added or a group removed, the first group retried: RESCHEDULING
//      ones first, then creation order), with survivors' nodes pinned.
//   6. Determinism: the same ops on two engines give the same state.
//   7. Explanations: one entry per live node, verdicts and counts agree with
//      the oracle's single-node checks.
//
// The oracle checks (4, 5) cover groups of up to 8 bundles, the range where
// the solver promises an exact answer (past it, it searches on a budget).
//
// Tests here: RandomOpSequences (<= 8 nodes), NodeChurnSequences (<= 12
// nodes, long histories), LargeClusterSequences (<= 40 nodes, groups of up to
// 12 bundles). Elsewhere: AgreesWithExhaustiveSearch (property 5 proper,
// agreement_property_test.cc) and the oracle's own tests
// (BruteForceOracleTest, brute_force_test.cc). The helpers: property_util.h
// (knobs, random numbers), random_cluster.h, op_sequence.h, invariants.h
// (properties 1, 2), oracle_checks.h (4, 5, 7), case_runner.h (every check
// after an op, minimizing).
//
// Knobs (environment):
//   BERTH_PROPERTY_SCALE  multiplies iteration counts (default 1.0); lower it
//                         under sanitizers if needed.
//   BERTH_PROPERTY_SEED   run only this case seed (to reproduce a failure).
// A failing case is minimized and printed as an op list.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/case_runner.h"
#include "tests/property/invariants.h"
#include "tests/property/op_sequence.h"
#include "tests/property/oracle_checks.h"
#include "tests/property/property_util.h"

namespace berth::property_test {
namespace {

// ---------------------------------------------------------------- properties 1-4, 6, 7

// Random op sequences on clusters of at most 8 live nodes: every check after
// every op, a second engine in lockstep, and at the end every group removed.
// Runs a sequence on two engines in lockstep (property 6) with the checks
// after every op (the oracle after every op or only after the last), then
// removes every group in a random order (property 3). "" when it passes, or
// (`lenient`, for the minimizer) when an op is not valid for the engine.
std::string RunLockstep(std::vector<Op>* ops, Rng& r, bool oracle_every_op, bool oracle_at_end,
                        Stats* stats, bool lenient = false) {
  PlacementEngine e, twin;
  Tracker tracker;
  for (size_t i = 0; i < ops->size(); ++i) {
    const Op& op = (*ops)[i];
    auto at = [&] { return "after op " + std::to_string(i) + " (" + Describe(op) + "): "; };
    std::optional<GroupState> created, twin_created;
    std::string err = Apply(e, op, &created);
    std::string twin_err = Apply(twin, op, &twin_created);
    ++stats->ops;
    if (!err.empty()) return lenient ? "" : at() + "the op failed: " + err;
    if (created && e.Group(op.group.name)->state != *created) {
      return at() + "CreateGroup returned " + GroupStateName(*created) + " but the group shows " +
             GroupStateName(e.Group(op.group.name)->state);
    }
    std::vector<GroupView> groups = e.Groups();
    std::vector<NodeView> nodes = e.Nodes();
    ++stats->determinism_compares;
    if (!SameState(groups, nodes, twin.Groups(), twin.Nodes()) || err != twin_err ||
        created != twin_created) {
      return at() + "two engines diverge:\n" + Dump(e) + "---\n" + Dump(twin);
    }
    bool oracle = oracle_every_op || (oracle_at_end && i + 1 == ops->size());
    std::string check =
        CheckAll(e, groups, nodes, &tracker, op, static_cast<int>(i), oracle, stats);
    if (!check.empty()) return at() + check;
  }
  // Property 3: remove every group, in a random order.
  std::vector<std::string> names;
  for (const GroupView& g : e.Groups()) {
    if (g.state != GroupState::kRemoved) names.push_back(g.name);
  }
  for (size_t i = names.size(); i > 1; --i) std::swap(names[i - 1], names[r.Next() % i]);
  for (const std::string& name : names) {
    Op op;
    op.kind = Op::kRemoveGroup;
    op.name = name;
    ops->push_back(op);
    std::optional<GroupState> unused;
    std::string err = Apply(e, op, &unused);
    if (err.empty()) {
      err = CheckAll(e, &tracker, op, static_cast<int>(ops->size() - 1), false, stats);
    }
    if (!err.empty()) return "removing " + name + " at the end: " + err;
  }
  for (const NodeView& n : e.Nodes()) {
    if (!(n.available == n.total)) {
      return "with every group removed, node " + n.name + " has " + n.available.ToString() +
             " of " + n.total.ToString();
    }
    for (const DeviceView& d : n.gpus) {
      if (d.free != Quantity::Whole(1)) {
        return "with every group removed, node " + n.name + " device " + std::to_string(d.id) +
               " has " + d.free.ToString() + " free";
      }
    }
  }
  for (const GroupView& g : e.Groups()) {
    if (g.state != GroupState::kRemoved) return "group " + g.name + " not removed";
  }
  e.PurgeRemoved();
  if (e.group_count() != 0) return "PurgeRemoved left groups";
  ++stats->removal_restores;
  return "";
}

// Every check after every op, the oracle on small clusters (at most 8 live
// nodes): after every op in a third of the sequences, after the last op in
// the others.
TEST(PlacementPropertyTest, RandomOpSequences) {
  const auto t0 = std::chrono::steady_clock::now();
  Stats stats;
  for (uint64_t seed : Seeds(1'000, Iterations(3000))) {
    Rng r(seed);
    std::vector<Op> ops = RandomSequence(r, SequenceShape{});
    ++stats.sequences;
    std::string failure = RunLockstep(&ops, r, seed % 3 == 0, true, &stats);
    if (!failure.empty()) {
      Stats scratch;
      ADD_FAILURE() << FailureReport(seed, failure, ops, [&](const std::vector<Op>& cand) {
        std::vector<Op> copy = cand;
        Rng shuffle(seed);
        return RunLockstep(&copy, shuffle, true, true, &scratch, /*lenient=*/true);
      });
      break;
    }
  }
  PrintStats("op sequences", stats, Since(t0));
  EXPECT_LE(stats.unverified * 50,
            stats.waiting_proofs + stats.pending_totals + stats.infeasible_totals + 50)
      << "the oracle gave up on too many checks";
}

// Longer histories of node loss and return on clusters of up to 12 live
// nodes, with the oracle after every op.
TEST(PlacementPropertyTest, NodeChurnSequences) {
  const auto t0 = std::chrono::steady_clock::now();
  Stats stats;
  for (uint64_t seed : Seeds(2'000'000, Iterations(800))) {
    Rng r(seed);
    std::vector<Op> ops = RandomSequence(
        r, SequenceShape{.max_nodes = 12, .max_initial = 8, .min_ops = 30, .max_ops = 60});
    ++stats.sequences;
    stats.ops += static_cast<long>(ops.size());
    std::string failure = RunChecked(ops, true, &stats);
    if (!failure.empty()) {
      Stats scratch;
      ADD_FAILURE() << FailureReport(seed, failure, ops, [&](const std::vector<Op>& cand) {
        return RunChecked(cand, true, &scratch);
      });
      break;
    }
  }
  PrintStats("node churn", stats, Since(t0));
  EXPECT_LE(stats.unverified * 50,
            stats.waiting_proofs + stats.pending_totals + stats.infeasible_totals + 50)
      << "the oracle gave up on too many checks";
}

// Larger clusters (up to 40 nodes, groups up to 12 bundles), where the solver
// prunes by node class and bounds its search: properties 1, 2, 3 and 6 after
// every op, and the oracle (which copes thanks to its own symmetry pruning)
// on the final state, for groups of up to 8 bundles.
TEST(PlacementPropertyTest, LargeClusterSequences) {
  const auto t0 = std::chrono::steady_clock::now();
  Stats stats;
  for (uint64_t seed : Seeds(4'000'000, Iterations(70))) {
    Rng r(seed);
    std::vector<Op> ops = RandomSequence(
        r,
        SequenceShape{
            .max_nodes = 40, .max_initial = 30, .min_ops = 40, .max_ops = 100, .max_bundles = 12});
    ++stats.sequences;
    std::string failure = RunLockstep(&ops, r, false, true, &stats);
    if (!failure.empty()) {
      Stats scratch;
      ADD_FAILURE() << FailureReport(seed, failure, ops, [&](const std::vector<Op>& cand) {
        std::vector<Op> copy = cand;
        Rng shuffle(seed);
        return RunLockstep(&copy, shuffle, false, true, &scratch, /*lenient=*/true);
      });
      break;
    }
  }
  PrintStats("large clusters", stats, Since(t0));
}

}  // namespace

}  // namespace berth::property_test
