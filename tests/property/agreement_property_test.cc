// Property 5 of the placement property tests (see placement_property_test.cc):
// on small clusters with random pre-existing load, a new group is CREATED iff
// the exhaustive oracle finds a placement, PACK on the fewest nodes possible,
// SPREAD on the most; PENDING / INFEASIBLE agree with the empty cluster.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/brute_force.h"
#include "tests/property/case_runner.h"
#include "tests/property/op_sequence.h"
#include "tests/property/oracle_checks.h"
#include "tests/property/property_util.h"
#include "tests/property/random_cluster.h"

namespace berth::property_test {
namespace {

// ---------------------------------------------------------------- property 5

// The check on the last op of an agreement case: the group it creates is
// placed iff the oracle finds a placement on the free capacity before it, and
// optimally for PACK / SPREAD.
std::string CheckAgreement(const std::vector<NodeView>& before, const PlacementEngine& e,
                           const GroupSpec& spec, GroupState state, Stats* stats) {
  bf::Problem p;
  p.strategy = spec.strategy;
  for (const NodeView& n : before) p.nodes.push_back(bf::FreeOf(n));
  for (const ResourceSet& b : spec.bundles) p.bundles.push_back(bf::FromSpec(b));
  bf::Answer feasible = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
  stats->oracle_steps += feasible.steps;
  if (!feasible.complete) {
    ++stats->unverified;
    return "";
  }
  const std::string where = std::string(StrategyName(spec.strategy)) + " group " + spec.name;
  if ((state == GroupState::kCreated) != feasible.feasible) {
    return where + " is " + GroupStateName(state) + " but the oracle says it " +
           (feasible.feasible ? "fits: " + WitnessString(p, feasible) : "does not fit");
  }
  if (state == GroupState::kCreated) {
    ++stats->agreement_created;
    std::optional<GroupView> g = e.Group(spec.name);
    std::set<std::string> used;
    for (const BundlePlacement& pl : g->placed) used.insert(pl.node);
    const int distinct = static_cast<int>(used.size());
    if (spec.strategy == Strategy::kPack || spec.strategy == Strategy::kSpread) {
      bool pack = spec.strategy == Strategy::kPack;
      bf::Answer best =
          bf::Solve(p, pack ? bf::Goal::kFewestNodes : bf::Goal::kMostNodes, OracleOptions());
      stats->oracle_steps += best.steps;
      if (!best.complete) {
        ++stats->unverified;
      } else if (best.distinct != distinct) {
        return where + " uses " + std::to_string(distinct) + " nodes; the " +
               (pack ? "fewest" : "most") + " possible is " + std::to_string(best.distinct) + ": " +
               WitnessString(p, best);
      } else {
        ++(pack ? stats->agreement_pack_opt : stats->agreement_spread_opt);
      }
    }
  } else {
    ++stats->agreement_not_created;
    bf::Problem totals = p;
    totals.nodes.clear();
    for (const NodeView& n : before) totals.nodes.push_back(bf::TotalOf(n));
    bf::Answer ever = bf::Solve(totals, bf::Goal::kFeasible, OracleOptions());
    stats->oracle_steps += ever.steps;
    if (!ever.complete) {
      ++stats->unverified;
    } else if (ever.feasible != (state == GroupState::kPending)) {
      return where + " is " + GroupStateName(state) + " but the oracle says it " +
             (ever.feasible ? "fits the empty cluster" : "never fits");
    }
  }
  return "";
}

// Runs an agreement case: the last op creates the group under test.
std::string RunAgreement(const std::vector<Op>& ops, Stats* stats) {
  if (ops.empty() || ops.back().kind != Op::kCreate) return "";
  PlacementEngine e;
  Tracker tracker;
  for (size_t i = 0; i < ops.size(); ++i) {
    std::vector<NodeView> before = e.Nodes();
    std::optional<GroupState> created;
    if (!Apply(e, ops[i], &created).empty()) return "";
    std::string err = CheckAll(e, &tracker, ops[i], static_cast<int>(i), false, stats);
    if (err.empty() && i + 1 == ops.size()) {
      err = CheckAgreement(before, e, ops[i].group, *created, stats);
    }
    if (!err.empty())
      return "after op " + std::to_string(i) + " (" + Describe(ops[i]) + "): " + err;
  }
  return "";
}

std::vector<Op> RandomAgreementCase(Rng& r) {
  const Profile profile = RandomProfile(r);
  std::vector<Op> ops;
  std::vector<NodeSpec> seen;
  int nodes = r.Int(1, 8);
  for (int i = 0; i < nodes; ++i) {
    Op op;
    op.kind = Op::kAddNode;
    op.node = RandomNode(r, "n" + std::to_string(i), profile, seen);
    seen.push_back(op.node);
    ops.push_back(op);
  }
  // Pre-existing load: some groups, some of them removed again (which leaves
  // holes in the devices).
  int load = r.Int(0, 2 * nodes);
  std::vector<std::string> live;
  for (int i = 0; i < load; ++i) {
    if (!live.empty() && r.Chance(0.25)) {
      size_t k = r.Next() % live.size();
      Op op;
      op.kind = Op::kRemoveGroup;
      op.name = live[k];
      live.erase(live.begin() + static_cast<long>(k));
      ops.push_back(op);
      continue;
    }
    Op op;
    op.kind = Op::kCreate;
    op.group = RandomGroup(r, "load" + std::to_string(i), profile, 4, seen);
    live.push_back(op.group.name);
    ops.push_back(op);
  }
  Op test;
  test.kind = Op::kCreate;
  // Bundles: up to 6 mostly, 7-8 sometimes.
  test.group = RandomGroup(r, "test", profile, r.Chance(0.15) ? 8 : 6, seen);
  // Favour the strategies that have an optimum to check.
  if (r.Chance(0.4)) test.group.strategy = r.Chance(0.5) ? Strategy::kPack : Strategy::kSpread;
  ops.push_back(test);
  return ops;
}

TEST(PlacementPropertyTest, AgreesWithExhaustiveSearch) {
  const auto t0 = std::chrono::steady_clock::now();
  Stats stats;
  for (uint64_t seed : Seeds(3'000'000, Iterations(20000))) {
    Rng r(seed);
    std::vector<Op> ops = RandomAgreementCase(r);
    ++stats.agreement_cases;
    std::string failure = RunAgreement(ops, &stats);
    if (!failure.empty()) {
      Stats scratch;
      ADD_FAILURE() << FailureReport(seed, failure, ops, [&](const std::vector<Op>& cand) {
        return RunAgreement(cand, &scratch);
      });
      break;
    }
  }
  PrintStats("agreement", stats, Since(t0));
  EXPECT_LE(stats.unverified * 50, stats.agreement_cases + 50)
      << "the oracle gave up on too many cases";
}

}  // namespace

}  // namespace berth::property_test
