// Tests of the property tests' exhaustive oracle (tests/property/brute_force.h):
// GPU device packing on fixed cases, and that its symmetry pruning changes no
// answer on random tiny instances.

#include "tests/property/brute_force.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/property_util.h"
#include "tests/property/random_cluster.h"
// CMake globs only *_test.cc into berth_tests; the oracle's .cc is compiled
// here, in exactly one translation unit.
#include "tests/property/brute_force.cc"

namespace berth::property_test {
namespace {

// ---------------------------------------------------------------- the oracle itself

TEST(BruteForceOracleTest, GpuPackingCases) {
  const Units one = bf::kOne;
  auto fit = [](std::vector<double> devices, std::vector<double> asks) {
    std::vector<Units> d, a;
    for (double x : devices) d.push_back(Q(x).units());
    for (double x : asks) a.push_back(Q(x).units());
    long steps = 0;
    bool gave_up = false;
    bool sym = bf::GpuAsksFit(d, a, true, 1'000'000, &steps, &gave_up);
    steps = 0;
    bool plain = bf::GpuAsksFit(d, a, false, 1'000'000, &steps, &gave_up);
    EXPECT_FALSE(gave_up);
    EXPECT_EQ(sym, plain);
    return sym;
  };
  (void)one;
  EXPECT_TRUE(fit({1, 1}, {0.7, 0.7}));
  EXPECT_FALSE(fit({1}, {0.7, 0.7}));
  EXPECT_TRUE(fit({1, 1}, {0.6, 0.6, 0.4, 0.4}));
  EXPECT_FALSE(fit({1, 1}, {0.6, 0.6, 0.6}));
  EXPECT_TRUE(fit({1, 1, 1}, {1, 0.5, 0.5, 0.5, 0.5}));
  EXPECT_FALSE(fit({1, 1, 1}, {2, 0.5, 0.5, 0.5}));
  EXPECT_TRUE(fit({1, 0.5, 1}, {2}));
  EXPECT_FALSE(fit({1, 0.5}, {2}));
  EXPECT_FALSE(fit({0.5, 0.5}, {1}));  // shares do not add up to a whole device
  EXPECT_TRUE(fit({0.5, 0.5}, {0.5, 0.5}));
  EXPECT_TRUE(fit({0.3, 0.7, 1}, {0.7, 0.3, 1}));
  EXPECT_FALSE(fit({0.3, 0.7, 1}, {0.7, 0.7, 1}));
  EXPECT_TRUE(fit({0.9999, 1}, {0.9999, 0.9999}));
  EXPECT_TRUE(fit({}, {}));
  EXPECT_FALSE(fit({}, {0.1}));
}

// The oracle's symmetry pruning changes nothing: on tiny instances, with and
// without it, the same answers; every witness is valid and has the distinct
// count claimed.
TEST(BruteForceOracleTest, SymmetryPruningIsSound) {
  const auto t0 = std::chrono::steady_clock::now();
  long cases = 0, feasible = 0;
  for (uint64_t seed : Seeds(500'000, Iterations(3000))) {
    Rng r(seed);
    Profile profile = r.Chance(0.5) ? Profile::kTight : Profile::kGpu;
    bf::Problem p;
    p.strategy = RandomStrategy(r);
    int n_nodes = r.Int(1, 4);
    std::vector<NodeSpec> seen;
    for (int i = 0; i < n_nodes; ++i) {
      NodeSpec spec = RandomNode(r, "n" + std::to_string(i), profile, seen);
      seen.push_back(spec);
      NodeView v;
      v.name = spec.name;
      v.total = spec.resources;
      bf::Node node = bf::TotalOf(v);
      // Some load: shave scalars and device shares.
      for (auto& [name, u] : node.scalars) {
        if (r.Chance(0.4)) u -= u / r.Int(2, 4);
      }
      for (Units& d : node.devices) {
        if (r.Chance(0.4)) d = Q(r.Pick(std::vector<double>{0.3, 0.5, 0.7, 0.75, 0})).units();
      }
      p.nodes.push_back(node);
    }
    int n_bundles = r.Int(1, 4);
    for (int b = 0; b < n_bundles; ++b) p.bundles.push_back(bf::FromSpec(RandomBundle(r, profile)));
    if (r.Chance(0.3)) {
      p.pinned.push_back(r.Int(0, n_nodes - 1));
      if (p.strategy == Strategy::kStrictPack) p.pinned.resize(1);
    }
    for (bf::Goal goal : {bf::Goal::kFeasible, bf::Goal::kFewestNodes, bf::Goal::kMostNodes}) {
      bf::Options with, without;
      without.symmetry = false;
      bf::Answer a = bf::Solve(p, goal, with);
      bf::Answer b = bf::Solve(p, goal, without);
      ASSERT_TRUE(a.complete && b.complete) << "seed " << seed;
      ASSERT_EQ(a.feasible, b.feasible) << "seed " << seed;
      if (goal != bf::Goal::kFeasible) {
        ASSERT_EQ(a.distinct, b.distinct) << "seed " << seed;
      }
      for (const bf::Answer* x : {&a, &b}) {
        if (!x->feasible) continue;
        ASSERT_TRUE(bf::IsValid(p, x->witness)) << "seed " << seed;
        ASSERT_EQ(bf::DistinctNodes(p, x->witness), x->distinct) << "seed " << seed;
      }
    }
    ++cases;
    feasible += bf::Solve(p, bf::Goal::kFeasible).feasible;
  }
  std::printf("[oracle symmetry] %.1fs cases=%ld feasible=%ld\n", Since(t0), cases, feasible);
}

}  // namespace

}  // namespace berth::property_test
