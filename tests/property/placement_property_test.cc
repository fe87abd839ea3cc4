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
// Tests: RandomOpSequences (<= 8 nodes), NodeChurnSequences (<= 12 nodes,
// long histories), LargeClusterSequences (<= 40 nodes, groups of up to 12
// bundles), AgreesWithExhaustiveSearch (property 5 proper), and the oracle's
// own tests (BruteForceOracleTest).
//
// Knobs (environment):
//   BERTH_PROPERTY_SCALE  multiplies iteration counts (default 1.0); lower it
//                         under sanitizers if needed.
//   BERTH_PROPERTY_SEED   run only this case seed (to reproduce a failure).
// A failing case is minimized and printed as an op list.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "tests/property/brute_force.h"
// CMake globs only *_test.cc into berth_tests; the oracle's .cc is compiled
// here, in exactly one translation unit.
#include "tests/property/brute_force.cc"

namespace berth {
namespace {

namespace bf = brute_force;
using bf::Units;

// ---------------------------------------------------------------- knobs

double Scale() {
  static const double scale = [] {
    const char* v = std::getenv("BERTH_PROPERTY_SCALE");
    if (!v || !*v) return 1.0;
    char* end = nullptr;
    double d = std::strtod(v, &end);
    return (end == v || !(d > 0)) ? 1.0 : d;
  }();
  return scale;
}

int Iterations(int base) { return std::max(1, static_cast<int>(std::llround(base * Scale()))); }

std::optional<uint64_t> OnlySeed() {
  const char* v = std::getenv("BERTH_PROPERTY_SEED");
  if (!v || !*v) return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

// Seeds for `count` cases of one property, or just BERTH_PROPERTY_SEED.
std::vector<uint64_t> Seeds(uint64_t base, int count) {
  if (auto only = OnlySeed()) return {*only};
  std::vector<uint64_t> out;
  for (int i = 0; i < count; ++i) out.push_back(base + static_cast<uint64_t>(i));
  return out;
}

// ---------------------------------------------------------------- random

// SplitMix64: the same numbers on every platform (std distributions are not).
// The seed is mixed first: seeding the state with seed * increment would make
// the streams of consecutive seeds shifted copies of each other.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(Mix(seed ^ 0x632BE59BD9B4E019ull)) {}
  uint64_t Next() { return Mix(s_ += 0x9E3779B97F4A7C15ull); }
  int Int(int lo, int hi) {  // inclusive
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Real() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Real() < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Next() % v.size()];
  }

 private:
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t s_;
};

Quantity Q(double v) { return Quantity::Units(std::llround(v * Quantity::kScale)); }
Quantity GiB(int64_t n) { return Quantity::Whole(n << 30); }

constexpr const char* kCustom = "accel_slot";
constexpr const char* kRare = "rare";  // asked for by a few bundles, held by a few nodes

// What a case's cluster and groups look like.
enum class Profile {
  kTight,  // small nodes, so that groups contend
  kRoomy,  // realistic node sizes
  kGpu,    // few GPUs per node and mostly shared (fractional) asks: device packing
  kBins,   // bin packing in CPU and memory, PACK and SPREAD: where greedy is not optimal
};

Profile RandomProfile(Rng& r) {
  double u = r.Real();
  return u < 0.35  ? Profile::kTight
         : u < 0.6 ? Profile::kRoomy
         : u < 0.8 ? Profile::kGpu
                   : Profile::kBins;
}

NodeSpec RandomNode(Rng& r, const std::string& name, Profile profile,
                    const std::vector<NodeSpec>& seen) {
  NodeSpec n;
  n.name = name;
  if (!seen.empty() && r.Chance(0.35)) {
    // Identical nodes are common in real clusters (and in the solver's
    // symmetry pruning).
    const NodeSpec& twin = r.Pick(seen);
    n.resources = twin.resources;
    n.labels = twin.labels;
    return n;
  }
  if (profile == Profile::kBins) {
    n.resources.Set("CPU", Quantity::Whole(r.Pick(std::vector<int>{8, 10, 10, 12, 12, 16})));
    if (r.Chance(0.5)) n.resources.Set("memory", GiB(r.Pick(std::vector<int>{8, 12, 16})));
    if (r.Chance(0.2)) n.resources.Set("GPU", Quantity::Whole(r.Int(1, 4)));
    return n;
  }
  const bool tight = profile == Profile::kTight;
  const std::vector<double> cpus = tight ? std::vector<double>{2, 4, 4, 8, 8, 16, 6.5}
                                         : std::vector<double>{8, 16, 32, 48, 64, 96};
  n.resources.Set("CPU", Q(r.Pick(cpus)));
  if (r.Chance(0.85)) {
    const std::vector<int64_t> mems =
        tight ? std::vector<int64_t>{4, 8, 16, 32} : std::vector<int64_t>{32, 64, 128, 256, 512};
    n.resources.Set("memory", GiB(r.Pick(mems)));
  }
  const std::vector<int> gpus = profile == Profile::kGpu
                                    ? std::vector<int>{1, 1, 2, 2, 2, 3, 3, 4, 0, 8}
                                    : std::vector<int>{0, 0, 0, 1, 2, 2, 4, 4, 8, 8, 3, 5, 6, 7};
  int g = r.Pick(gpus);
  if (g > 0) {
    n.resources.Set("GPU", Quantity::Whole(g));
  } else if (r.Chance(0.1)) {
    n.resources.Set("GPU", Quantity::Whole(0));
  }
  if (r.Chance(0.3)) n.resources.Set(kCustom, Quantity::Whole(r.Pick(std::vector<int>{1, 2, 4})));
  if (r.Chance(0.05)) n.resources.Set(kRare, Quantity::Whole(2));
  if (r.Chance(0.3)) n.labels["zone"] = r.Chance(0.5) ? "a" : "b";
  return n;
}

ResourceSet RandomBundle(Rng& r, Profile profile) {
  ResourceSet b;
  const bool tight = profile == Profile::kTight;
  if (profile == Profile::kGpu) {
    // Shares of devices, some whole devices; a little CPU.
    if (r.Chance(0.7)) b.Set("CPU", Q(r.Pick(std::vector<double>{0.5, 1, 2})));
    if (r.Chance(0.78)) {
      b.Set("GPU", Q(r.Pick(std::vector<double>{0.1, 0.2, 0.25, 0.3, 0.3, 0.4, 0.4, 0.5, 0.6, 0.6,
                                                0.7, 0.75, 0.8, 0.9999})));
    } else {
      b.Set("GPU", Quantity::Whole(r.Pick(std::vector<int>{1, 1, 1, 2, 2, 3})));
    }
    return b;
  }
  if (profile == Profile::kBins) {
    b.Set("CPU", Quantity::Whole(r.Int(1, 7)));
    if (r.Chance(0.4)) b.Set("memory", GiB(r.Int(1, 7)));
    if (r.Chance(0.1)) b.Set("GPU", r.Chance(0.5) ? Q(0.5) : Quantity::Whole(1));
    return b;
  }
  if (r.Chance(0.85)) {
    const std::vector<double> cpus =
        tight ? std::vector<double>{0.5, 1, 1, 2, 2, 3, 4, 1.5, 0.0001, 6}
              : std::vector<double>{0.5, 1, 2, 4, 4, 8, 8, 16, 1.5, 0.0001, 24};
    b.Set("CPU", Q(r.Pick(cpus)));
  }
  if (r.Chance(0.5)) {
    const std::vector<int64_t> mems =
        tight ? std::vector<int64_t>{1, 2, 4, 8} : std::vector<int64_t>{2, 4, 8, 16, 32, 64, 128};
    Quantity m = GiB(r.Pick(mems));
    if (r.Chance(0.2)) m += Quantity::Whole(12345);  // not a round number of bytes
    b.Set("memory", m);
  }
  if (r.Chance(0.06)) b.Set(kCustom, Quantity::Whole(r.Int(1, 2)));
  if (r.Chance(0.015)) b.Set(kRare, Quantity::Whole(1));
  double u = r.Real();
  if (u < 0.4) {
    if (r.Chance(0.08)) b.Set("GPU", Quantity::Whole(0));
  } else if (u < 0.68) {
    b.Set("GPU",
          Q(r.Pick(std::vector<double>{0.25, 0.5, 0.3, 0.7, 0.25, 0.5, 0.1, 0.9999, 0.0001})));
  } else {
    b.Set("GPU", Quantity::Whole(r.Pick(std::vector<int>{1, 1, 1, 2, 2, 3, 4})));
  }
  if (b.AllZero()) b.Set("CPU", Quantity::Whole(1));
  return b;
}

// A bundle cut to the size of one node: a share of each of its resources and
// of its GPUs. Such bundles fit the cluster alone but contend with each other.
ResourceSet RandomBundleFor(Rng& r, const NodeSpec& node) {
  static const std::vector<std::pair<int, int>> cuts = {{1, 8}, {1, 4}, {1, 3}, {1, 2},
                                                        {1, 2}, {2, 3}, {1, 1}};
  ResourceSet b;
  for (const auto& [name, q] : node.resources.items()) {
    if (name == "GPU" || !r.Chance(0.7)) continue;
    auto [num, den] = r.Pick(cuts);
    Quantity part = Quantity::Units(q.units() / den * num);
    if (!part.IsZero()) b.Set(name, part);
  }
  const int64_t gpus = node.resources.Get("GPU").WholePart();
  if (gpus > 0 && r.Chance(0.6)) {
    if (r.Chance(0.5)) {
      b.Set("GPU", Q(r.Pick(std::vector<double>{0.25, 0.5, 0.3, 0.7, 0.5, 0.1})));
    } else {
      b.Set("GPU", Quantity::Whole(r.Int(1, static_cast<int>(std::min<int64_t>(4, gpus)))));
    }
  }
  if (b.AllZero()) b.Set("CPU", Quantity::Whole(1));
  return b;
}

Strategy RandomStrategy(Rng& r) {
  static const std::vector<Strategy> all = {Strategy::kPack, Strategy::kSpread,
                                            Strategy::kStrictPack, Strategy::kStrictSpread};
  return r.Pick(all);
}

// A group. With `nodes` (the live nodes' specs) most bundles are cut to the
// size of one of them, and STRICT_SPREAD groups mostly ask for no more bundles
// than there are nodes, so that most groups could fit and contend.
GroupSpec RandomGroup(Rng& r, const std::string& name, Profile profile, int max_bundles,
                      const std::vector<NodeSpec>& nodes = {}) {
  GroupSpec g;
  g.name = name;
  g.strategy = RandomStrategy(r);
  // Device packing happens among the bundles of one node: favour PACK.
  if (profile == Profile::kGpu && r.Chance(0.4)) {
    g.strategy = r.Chance(0.6) ? Strategy::kPack : Strategy::kStrictPack;
  }
  if (profile == Profile::kBins && r.Chance(0.7)) {
    g.strategy = r.Chance(0.6) ? Strategy::kPack : Strategy::kSpread;
  }
  int count = r.Chance(0.12) ? r.Int(std::min(7, max_bundles), max_bundles)
                             : r.Int(1, std::min(6, max_bundles));
  if (g.strategy == Strategy::kStrictSpread && !nodes.empty() && r.Chance(0.85)) {
    count = std::min(count, static_cast<int>(nodes.size()));
  }
  if (g.strategy == Strategy::kStrictPack && r.Chance(0.6)) count = std::min(count, 3);
  const bool cut =
      !nodes.empty() && profile != Profile::kBins && r.Chance(profile == Profile::kGpu ? 0.2 : 0.6);
  auto bundle = [&] { return cut ? RandomBundleFor(r, r.Pick(nodes)) : RandomBundle(r, profile); };
  if (profile == Profile::kBins && r.Chance(0.6))
    count = r.Int(std::min(4, max_bundles), max_bundles);
  // Bin packing is hard with mixed sizes.
  double shape = profile == Profile::kBins ? 0.4 + 0.6 * r.Real() : r.Real();
  std::vector<ResourceSet> shapes;
  if (shape < 0.4) {
    shapes = {bundle()};  // all bundles alike, as usual in practice
  } else if (shape < 0.7) {
    shapes = {bundle(), bundle()};
  }
  for (int i = 0; i < count; ++i) g.bundles.push_back(shapes.empty() ? bundle() : r.Pick(shapes));
  if (g.strategy == Strategy::kStrictPack && cut && count > 1 && r.Chance(0.5)) {
    // Cut the sum, not each bundle, to a node's size.
    ResourceSet each = RandomBundleFor(r, r.Pick(nodes));
    ResourceSet small;
    for (const auto& [rname, q] : each.items()) {
      if (rname == "GPU") {
        if (q < Quantity::Whole(1)) small.Set(rname, q);
        continue;
      }
      Quantity part = Quantity::Units(q.units() / count);
      if (!part.IsZero()) small.Set(rname, part);
    }
    if (small.AllZero()) small.Set("CPU", Q(0.5));
    g.bundles.assign(static_cast<size_t>(count), small);
  }
  return g;
}

// ---------------------------------------------------------------- ops

struct Op {
  enum Kind { kAddNode, kRemoveNode, kCreate, kRemoveGroup, kPurge };
  Kind kind = kAddNode;
  NodeSpec node;     // kAddNode
  std::string name;  // kRemoveNode, kRemoveGroup
  GroupSpec group;   // kCreate
};

std::string Describe(const Op& op) {
  switch (op.kind) {
    case Op::kAddNode: {
      std::string s = "AddNode " + op.node.name + " " + op.node.resources.ToString();
      for (const auto& [k, v] : op.node.labels) s += " " + k + "=" + v;
      return s;
    }
    case Op::kRemoveNode:
      return "RemoveNode " + op.name;
    case Op::kCreate: {
      std::string s = "Create " + op.group.name + " " + StrategyName(op.group.strategy) + " [";
      for (size_t b = 0; b < op.group.bundles.size(); ++b) {
        if (b) s += ", ";
        s += op.group.bundles[b].ToString();
      }
      return s + "]";
    }
    case Op::kRemoveGroup:
      return "RemoveGroup " + op.name;
    case Op::kPurge:
      return "PurgeRemoved";
  }
  return "?";
}

std::string DescribeAll(const std::vector<Op>& ops) {
  std::string s;
  for (size_t i = 0; i < ops.size(); ++i)
    s += "  [" + std::to_string(i) + "] " + Describe(ops[i]) + "\n";
  return s;
}

// Applies one op; an error means the op list is not valid for this engine
// (only possible for op lists edited by the minimizer).
std::string Apply(PlacementEngine& e, const Op& op, std::optional<GroupState>* created) {
  created->reset();
  switch (op.kind) {
    case Op::kAddNode: {
      Status s = e.AddNode(op.node);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kRemoveNode: {
      Status s = e.RemoveNode(op.name);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kCreate: {
      Result<GroupState> r = e.CreateGroup(op.group);
      if (!r) return r.error().ToString();
      *created = *r;
      return "";
    }
    case Op::kRemoveGroup: {
      Status s = e.RemoveGroup(op.name);
      return s.ok() ? "" : s.ToString();
    }
    case Op::kPurge:
      e.PurgeRemoved();
      return "";
  }
  return "bad op";
}

// Random op sequences over a small cluster (at most `max_nodes` live nodes).
struct SequenceShape {
  int max_nodes = 8;    // live nodes at most
  int max_initial = 6;  // nodes added first
  int min_ops = 6, max_ops = 30;
  int max_bundles = 8;
};

std::vector<Op> RandomSequence(Rng& r, const SequenceShape& shape) {
  const int max_nodes = shape.max_nodes;
  const Profile profile = RandomProfile(r);
  std::vector<Op> ops;
  std::vector<std::string> live, dead;
  std::vector<NodeSpec> seen;
  std::map<std::string, NodeSpec> live_specs;
  std::vector<std::string> groups, removed, reusable;
  int next_node = 0, next_group = 0;
  auto add_node = [&] {
    std::string name;
    if (!dead.empty() && r.Chance(0.25)) {
      size_t i = r.Next() % dead.size();
      name = dead[i];
      dead.erase(dead.begin() + static_cast<long>(i));
    } else {
      name = "n" + std::to_string(next_node++);
    }
    Op op;
    op.kind = Op::kAddNode;
    op.node = RandomNode(r, name, profile, seen);
    seen.push_back(op.node);
    live.push_back(name);
    live_specs[name] = op.node;
    ops.push_back(op);
  };
  int initial = r.Int(1, std::min(shape.max_initial, max_nodes));
  for (int i = 0; i < initial; ++i) add_node();
  int count = r.Int(shape.min_ops, shape.max_ops);
  for (int i = 0; i < count; ++i) {
    double u = r.Real();
    Op op;
    if (u < 0.48) {
      std::string name;
      if (!reusable.empty() && r.Chance(0.5)) {
        name = reusable.back();
        reusable.pop_back();
      } else {
        name = "g" + std::to_string(next_group++);
      }
      op.kind = Op::kCreate;
      std::vector<NodeSpec> specs;
      for (const auto& [n, spec] : live_specs) specs.push_back(spec);
      op.group = RandomGroup(r, name, profile, shape.max_bundles, specs);
      groups.push_back(name);
    } else if (u < 0.68) {
      if (groups.empty()) continue;
      size_t k = r.Next() % groups.size();
      op.kind = Op::kRemoveGroup;
      op.name = groups[k];
      removed.push_back(groups[k]);
      groups.erase(groups.begin() + static_cast<long>(k));
    } else if (u < 0.8) {
      // Now and then down to no node at all.
      if (live.empty() || (live.size() == 1 && !r.Chance(0.2))) continue;
      size_t k = r.Next() % live.size();
      op.kind = Op::kRemoveNode;
      op.name = live[k];
      dead.push_back(live[k]);
      live_specs.erase(live[k]);
      live.erase(live.begin() + static_cast<long>(k));
    } else if (u < 0.96) {
      if (static_cast<int>(live.size()) >= max_nodes) continue;
      add_node();
      continue;
    } else {
      op.kind = Op::kPurge;
      reusable.insert(reusable.end(), removed.begin(), removed.end());
      removed.clear();
    }
    ops.push_back(op);
  }
  return ops;
}

// ---------------------------------------------------------------- dumps

std::string SharesString(const std::vector<GpuShare>& shares) {
  std::string s = "[";
  for (size_t i = 0; i < shares.size(); ++i) {
    if (i) s += " ";
    s += std::to_string(shares[i].device) + ":" + shares[i].fraction.ToString();
  }
  return s + "]";
}

// Everything the public API shows, as text (for determinism and messages).
std::string Dump(const PlacementEngine& e) {
  std::string s;
  for (const GroupView& g : e.Groups()) {
    s += "group " + g.name + " " + StrategyName(g.strategy) + " " + GroupStateName(g.state) + " [";
    for (size_t b = 0; b < g.bundles.size(); ++b) {
      if (b) s += ", ";
      s += g.bundles[b].ToString();
    }
    s += "]";
    for (const BundlePlacement& p : g.placed) {
      s += " b" + std::to_string(p.index) + "@" + p.node + SharesString(p.gpus);
    }
    s += "\n";
  }
  for (const NodeView& n : e.Nodes()) {
    s += "node " + n.name + " total=" + n.total.ToString() + " avail=" + n.available.ToString() +
         " gpus=[";
    for (size_t d = 0; d < n.gpus.size(); ++d) {
      if (d) s += " ";
      s += std::to_string(n.gpus[d].id) + ":" + n.gpus[d].free.ToString();
    }
    s += "]";
    for (const auto& [k, v] : n.labels) s += " " + k + "=" + v;
    s += "\n";
  }
  return s;
}

// Whether two engines show the same state (Dump() is the readable, slower
// form of the same comparison).
bool SameState(const std::vector<GroupView>& ga, const std::vector<NodeView>& na,
               const std::vector<GroupView>& gb, const std::vector<NodeView>& nb) {
  if (ga.size() != gb.size() || na.size() != nb.size()) return false;
  for (size_t i = 0; i < ga.size(); ++i) {
    const GroupView &x = ga[i], &y = gb[i];
    if (x.name != y.name || x.strategy != y.strategy || x.state != y.state ||
        x.bundles != y.bundles || x.placed != y.placed) {
      return false;
    }
  }
  for (size_t i = 0; i < na.size(); ++i) {
    const NodeView &x = na[i], &y = nb[i];
    if (x.name != y.name || !(x.total == y.total) || !(x.available == y.available) ||
        x.labels != y.labels || x.gpus.size() != y.gpus.size()) {
      return false;
    }
    for (size_t d = 0; d < x.gpus.size(); ++d) {
      if (x.gpus[d].id != y.gpus[d].id || x.gpus[d].free != y.gpus[d].free) return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- checks

struct Stats {
  long sequences = 0;
  long ops = 0;
  long waiting_proofs = 0;     // PENDING/RESCHEDULING groups proven not to fit now
  long pending_totals = 0;     // PENDING groups proven to fit the empty cluster
  long infeasible_totals = 0;  // INFEASIBLE groups proven not to fit the empty cluster
  long explained = 0;          // explanations checked
  long unverified = 0;         // oracle hit its step limit
  long out_of_scope = 0;       // waiting groups of more than 8 bundles, not checked
  long agreement_cases = 0;    // property 5 cases
  long agreement_created = 0;
  long agreement_pack_opt = 0;
  long agreement_spread_opt = 0;
  long agreement_not_created = 0;
  long removal_restores = 0;
  long first_checks = 0;  // the first group an op places, vs the oracle
  long first_opt = 0;     // ... placed with the fewest / most nodes
  long determinism_compares = 0;
  long oracle_steps = 0;
  long states[5] = {0, 0, 0, 0, 0};  // group states seen after ops, by GroupState
};

bf::Options OracleOptions() {
  bf::Options o;
  o.max_steps = 3'000'000;
  return o;
}

std::vector<int> UnplacedBundles(const GroupView& g) {
  std::vector<bool> placed(g.bundles.size(), false);
  for (const BundlePlacement& p : g.placed) {
    if (p.index >= 0 && p.index < static_cast<int>(placed.size())) placed[p.index] = true;
  }
  std::vector<int> out;
  for (size_t b = 0; b < placed.size(); ++b) {
    if (!placed[b]) out.push_back(static_cast<int>(b));
  }
  return out;
}

int NodeIndex(const std::vector<NodeView>& nodes, const std::string& name) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// The oracle's view of every live node, free and empty.
struct Capacities {
  std::vector<bf::Node> free, total;
};

Capacities CapacitiesOf(const std::vector<NodeView>& nodes) {
  Capacities c;
  for (const NodeView& n : nodes) {
    c.free.push_back(bf::FreeOf(n));
    c.total.push_back(bf::TotalOf(n));
  }
  return c;
}

// The oracle's problem for what a group has not placed, against the cluster's
// free capacity (or its totals, for the whole group).
bf::Problem WaitingProblem(const GroupView& g, const std::vector<NodeView>& nodes,
                           const Capacities& caps, bool totals) {
  bf::Problem p;
  p.strategy = g.strategy;
  p.nodes = totals ? caps.total : caps.free;
  if (totals) {
    for (const ResourceSet& b : g.bundles) p.bundles.push_back(bf::FromSpec(b));
    return p;
  }
  for (int b : UnplacedBundles(g)) p.bundles.push_back(bf::FromSpec(g.bundles[b]));
  std::set<int> pinned;
  for (const BundlePlacement& pl : g.placed) pinned.insert(NodeIndex(nodes, pl.node));
  p.pinned.assign(pinned.begin(), pinned.end());
  return p;
}

std::string WitnessString(const bf::Problem& p, const bf::Answer& a) {
  std::string s = "{";
  for (size_t b = 0; b < a.witness.size(); ++b) {
    if (b) s += ", ";
    s += std::to_string(b) + "->" + p.nodes[a.witness[b]].name;
  }
  return s + "}";
}

// Property 1 (capacity, devices, shares) and the shape of every group view.
std::string CheckCapacity(const std::vector<GroupView>& groups,
                          const std::vector<NodeView>& nodes) {
  std::map<std::string, std::map<std::string, Units>> used;  // node -> resource -> placed
  std::map<std::string, std::map<int, Units>> dev_used;      // node -> device -> shares
  std::map<std::string, const NodeView*> by_name;
  for (const NodeView& n : nodes) {
    if (by_name.count(n.name)) return "node " + n.name + " listed twice";
    by_name[n.name] = &n;
  }
  for (const GroupView& g : groups) {
    auto where = [&] { return "group " + g.name + " (" + GroupStateName(g.state) + ")"; };
    const bool holds = g.state == GroupState::kCreated || g.state == GroupState::kRescheduling;
    if (!holds && !g.placed.empty()) return where() + " shows placed bundles";
    if (g.state == GroupState::kCreated && g.placed.size() != g.bundles.size()) {
      return where() + " is CREATED with " + std::to_string(g.placed.size()) + " of " +
             std::to_string(g.bundles.size()) + " bundles placed";
    }
    if (g.state == GroupState::kRescheduling && g.placed.size() >= g.bundles.size()) {
      return where() + " is RESCHEDULING with every bundle placed";
    }
    int prev_index = -1;
    for (const BundlePlacement& p : g.placed) {
      auto at = [&] { return where() + " bundle " + std::to_string(p.index); };
      if (p.index <= prev_index || p.index >= static_cast<int>(g.bundles.size())) {
        return at() + ": placed indices not ascending / out of range";
      }
      prev_index = p.index;
      auto it = by_name.find(p.node);
      if (it == by_name.end()) return at() + " is on node " + p.node + ", which is not live";
      const NodeView& node = *it->second;
      const ResourceSet& spec = g.bundles[p.index];
      for (const auto& [name, q] : spec.items()) used[p.node][name] += q.units();
      const Quantity gpu = spec.Get("GPU");
      const int devices = static_cast<int>(node.gpus.size());
      for (const GpuShare& s : p.gpus) {
        if (s.device < 0 || s.device >= devices) {
          return at() + " has device " + std::to_string(s.device) + " on " + p.node + " with " +
                 std::to_string(devices) + " devices";
        }
        dev_used[p.node][s.device] += s.fraction.units();
      }
      if (gpu.IsZero()) {
        if (!p.gpus.empty()) return at() + " asks no GPU but has " + SharesString(p.gpus);
      } else if (gpu >= Quantity::Whole(1)) {
        if (static_cast<int64_t>(p.gpus.size()) != gpu.WholePart()) {
          return at() + " asks GPU " + gpu.ToString() + " but has " + SharesString(p.gpus);
        }
        for (size_t i = 0; i < p.gpus.size(); ++i) {
          if (p.gpus[i].fraction != Quantity::Whole(1)) {
            return at() + " (whole GPU) has a partial share " + SharesString(p.gpus);
          }
          if (i > 0 && p.gpus[i].device <= p.gpus[i - 1].device) {
            return at() + " devices not distinct and ascending: " + SharesString(p.gpus);
          }
        }
      } else {
        if (p.gpus.size() != 1 || p.gpus[0].fraction != gpu) {
          return at() + " asks GPU " + gpu.ToString() + " but has " + SharesString(p.gpus);
        }
      }
    }
  }
  for (const NodeView& n : nodes) {
    auto at = [&] { return "node " + n.name; };
    if (n.total.items().size() != n.available.items().size()) {
      return at() + ": total " + n.total.ToString() + " and available " + n.available.ToString() +
             " name different resources";
    }
    for (const auto& [name, total] : n.total.items()) {
      if (!n.available.Has(name)) return at() + ": available lacks " + name;
      Units placed = used[n.name][name];
      if (placed > total.units()) {
        return at() + ": " + name + " placed " + Quantity::Units(placed).ToString() + " > total " +
               total.ToString();
      }
      if (n.available.Get(name).units() != total.units() - placed) {
        return at() + ": " + name + " available " + n.available.Get(name).ToString() +
               " != total " + total.ToString() + " - placed " + Quantity::Units(placed).ToString();
      }
    }
    for (const auto& [name, placed] : used[n.name]) {
      if (placed > 0 && !n.total.Has(name)) {
        return at() + ": holds " + name + " " + Quantity::Units(placed).ToString() +
               " but has none";
      }
    }
    const Quantity gpus = n.total.Get("GPU");
    if (static_cast<int64_t>(n.gpus.size()) != gpus.WholePart()) {
      return at() + ": " + std::to_string(n.gpus.size()) + " devices for GPU " + gpus.ToString();
    }
    for (size_t d = 0; d < n.gpus.size(); ++d) {
      if (n.gpus[d].id != static_cast<int>(d)) return at() + ": device ids not 0..n-1";
      Units shares = dev_used[n.name][static_cast<int>(d)];
      if (shares > Quantity::kScale) {
        return at() + ": device " + std::to_string(d) + " holds " +
               Quantity::Units(shares).ToString() + " > 1";
      }
      if (n.gpus[d].free.units() != Quantity::kScale - shares) {
        return at() + ": device " + std::to_string(d) + " free " + n.gpus[d].free.ToString() +
               " != 1 - " + Quantity::Units(shares).ToString();
      }
    }
  }
  return "";
}

// Property 2.
std::string CheckStrict(const std::vector<GroupView>& groups) {
  for (const GroupView& g : groups) {
    if (g.placed.empty()) continue;
    std::set<std::string> nodes;
    for (const BundlePlacement& p : g.placed) nodes.insert(p.node);
    if (g.strategy == Strategy::kStrictPack && nodes.size() != 1) {
      return "STRICT_PACK group " + g.name + " (" + GroupStateName(g.state) + ") spans " +
             std::to_string(nodes.size()) + " nodes";
    }
    if (g.strategy == Strategy::kStrictSpread && nodes.size() != g.placed.size()) {
      return "STRICT_SPREAD group " + g.name + " (" + GroupStateName(g.state) + ") puts " +
             std::to_string(g.placed.size()) + " bundles on " + std::to_string(nodes.size()) +
             " nodes";
    }
  }
  return "";
}

// Tracks placements across ops: placed bundles never move (only a node's
// removal or the group's removal takes them away), and whole-GPU bundles of a
// group that were placed on one node by the same op get ascending devices in
// bundle order (the rest of property 1).
class Tracker {
 public:
  // The state before the op being checked.
  const std::vector<GroupView>& prev_groups() const { return prev_groups_; }
  const std::vector<NodeView>& prev_nodes() const { return prev_nodes_; }
  void Remember(std::vector<GroupView> groups, std::vector<NodeView> nodes) {
    prev_groups_ = std::move(groups);
    prev_nodes_ = std::move(nodes);
  }

  std::string After(const std::vector<GroupView>& groups, const Op& op, int step) {
    std::map<std::string, std::map<int, Placed>> now;
    std::map<std::string, GroupState> states;
    const std::string removed_node = op.kind == Op::kRemoveNode ? op.name : "";
    for (const GroupView& g : groups) {
      states[g.name] = g.state;
      auto prev_group = placed_.find(g.name);
      // A new group of a reused name (after PurgeRemoved) starts afresh; the
      // old one held nothing once removed.
      bool fresh = op.kind == Op::kCreate && op.group.name == g.name;
      for (const BundlePlacement& p : g.placed) {
        Placed cur{p.node, p.gpus, step};
        if (!fresh && prev_group != placed_.end()) {
          auto it = prev_group->second.find(p.index);
          if (it != prev_group->second.end()) {
            const Placed& was = it->second;
            if (was.node == p.node && was.gpus == p.gpus) {
              cur.epoch = was.epoch;
            } else if (was.node != removed_node) {
              return "group " + g.name + " bundle " + std::to_string(p.index) + " moved from " +
                     was.node + SharesString(was.gpus) + " to " + p.node + SharesString(p.gpus);
            }
          }
        }
        now[g.name][p.index] = cur;
      }
      auto prev_state = states_.find(g.name);
      if (!fresh && prev_state != states_.end() && prev_state->second == GroupState::kCreated &&
          g.state != GroupState::kCreated) {
        bool removed_it = op.kind == Op::kRemoveGroup && op.name == g.name;
        bool lost_node = false;
        if (prev_group != placed_.end()) {
          for (const auto& [b, was] : prev_group->second) lost_node |= was.node == removed_node;
        }
        if (!removed_it && !lost_node) {
          return "group " + g.name + " went from CREATED to " + GroupStateName(g.state) +
                 " on op " + Describe(op);
        }
      }
    }
    // Bundles that are no longer placed.
    for (const auto& [name, bundles] : placed_) {
      auto it = states.find(name);
      bool removed_it = op.kind == Op::kRemoveGroup && op.name == name;
      for (const auto& [b, was] : bundles) {
        bool still = now.count(name) && now[name].count(b);
        if (still || removed_it || was.node == removed_node) continue;
        if (it == states.end()) return "group " + name + " vanished while holding bundles";
        return "group " + name + " bundle " + std::to_string(b) + " on " + was.node +
               " was released by op " + Describe(op);
      }
    }
    placed_ = std::move(now);
    states_ = std::move(states);
    // Ascending devices per (group, node, epoch).
    for (const GroupView& g : groups) {
      std::map<std::pair<std::string, int>, int> last_device;  // (node, epoch) -> last id
      for (const BundlePlacement& p : g.placed) {
        if (g.bundles[p.index].Get("GPU") < Quantity::Whole(1) || p.gpus.empty()) continue;
        auto key = std::make_pair(p.node, placed_[g.name][p.index].epoch);
        auto it = last_device.find(key);
        if (it != last_device.end() && p.gpus.front().device <= it->second) {
          return "group " + g.name + " bundle " + std::to_string(p.index) + " on " + p.node +
                 " got devices " + SharesString(p.gpus) +
                 ", not above those of the group's earlier whole-GPU bundles placed with it";
        }
        last_device[key] = p.gpus.back().device;
      }
    }
    return "";
  }

 private:
  struct Placed {
    std::string node;
    std::vector<GpuShare> gpus;
    int epoch = 0;  // the op that placed it
  };
  std::map<std::string, std::map<int, Placed>> placed_;
  std::map<std::string, GroupState> states_;
  std::vector<GroupView> prev_groups_;
  std::vector<NodeView> prev_nodes_;
};

// The cluster as a freshly added node shows it.
NodeView EmptyNodeView(const NodeSpec& spec) {
  NodeView v;
  v.name = spec.name;
  v.labels = spec.labels;
  for (const auto& [name, q] : spec.resources.items()) {
    if (q.IsZero()) continue;
    v.total.Set(name, q);
    v.available.Set(name, q);
  }
  for (int64_t d = 0; d < spec.resources.Get("GPU").WholePart(); ++d) {
    v.gpus.push_back({static_cast<int>(d), Quantity::Whole(1)});
  }
  return v;
}

// The first group an op places (or tries to) sees a cluster that can be
// rebuilt from the state before the op:
//   Create       the new group, on the cluster as it was;
//   RemoveNode   the node gone, its bundles lost (their groups RESCHEDULING);
//   AddNode      the new node, empty;
//   RemoveGroup  the group's capacity given back.
// After the last three the engine retries waiting groups, RESCHEDULING ones
// first, then in creation order; the first of them sees exactly that cluster.
// That group must be placed iff the oracle finds a placement of its unplaced
// bundles (surviving bundles' nodes pinned), and then, for PACK / SPREAD, on
// the fewest / most distinct nodes possible (pinned ones included).
std::string CheckFirstPlacement(const std::vector<GroupView>& before_groups,
                                const std::vector<NodeView>& before_nodes, const Op& op,
                                const std::vector<GroupView>& groups, Stats* stats) {
  if (op.kind == Op::kPurge) return "";
  std::vector<NodeView> nodes;
  for (const NodeView& n : before_nodes) {
    if (op.kind == Op::kRemoveNode && n.name == op.name) continue;
    nodes.push_back(n);
  }
  if (op.kind == Op::kAddNode) nodes.push_back(EmptyNodeView(op.node));
  std::optional<GroupView> first;
  if (op.kind == Op::kCreate) {
    first = GroupView{.name = op.group.name,
                      .strategy = op.group.strategy,
                      .state = GroupState::kPending,
                      .bundles = op.group.bundles,
                      .placed = {}};
  } else {
    std::vector<GroupView> waiting;  // as the retry sees them
    for (const GroupView& g : before_groups) {
      if (op.kind == Op::kRemoveGroup && g.name == op.name) {
        for (const BundlePlacement& p : g.placed) {  // give back what it held
          NodeView& n = nodes[NodeIndex(nodes, p.node)];
          for (const auto& [name, q] : g.bundles[p.index].items()) {
            if (!q.IsZero()) n.available.Set(name, n.available.Get(name) + q);
          }
          for (const GpuShare& share : p.gpus) n.gpus[share.device].free += share.fraction;
        }
        continue;
      }
      GroupView v = g;
      if (op.kind == Op::kRemoveNode && !v.placed.empty()) {
        size_t held = v.placed.size();
        std::erase_if(v.placed, [&](const BundlePlacement& p) { return p.node == op.name; });
        if (v.placed.size() != held) v.state = GroupState::kRescheduling;
      }
      if (v.state == GroupState::kPending || v.state == GroupState::kInfeasible ||
          v.state == GroupState::kRescheduling) {
        waiting.push_back(std::move(v));
      }
    }
    std::stable_partition(waiting.begin(), waiting.end(),
                          [](const GroupView& g) { return g.state == GroupState::kRescheduling; });
    if (waiting.empty()) return "";
    first = waiting.front();
  }
  const GroupView* after = nullptr;
  for (const GroupView& g : groups) {
    if (g.name == first->name) after = &g;
  }
  if (!after) return "group " + first->name + " vanished";
  bf::Problem p = WaitingProblem(*first, nodes, CapacitiesOf(nodes), /*totals=*/false);
  // The solver is exhaustive up to 8 bundles (past that it has a step budget).
  if (p.bundles.size() > 8) return "";
  bf::Answer fits = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
  stats->oracle_steps += fits.steps;
  if (!fits.complete) {
    ++stats->unverified;
    return "";
  }
  ++stats->first_checks;
  auto where = [&] {
    return "group " + first->name + " " + StrategyName(first->strategy) +
           " (first placed by this op, " + GroupStateName(first->state) + " before)";
  };
  const bool placed = after->state == GroupState::kCreated;
  if (placed != fits.feasible) {
    return where() + " is " + GroupStateName(after->state) + ", but the oracle says its " +
           std::to_string(p.bundles.size()) + " unplaced bundles " +
           (fits.feasible ? "fit: " + WitnessString(p, fits) : "do not fit");
  }
  if (placed && (first->strategy == Strategy::kPack || first->strategy == Strategy::kSpread)) {
    const bool pack = first->strategy == Strategy::kPack;
    bf::Answer best =
        bf::Solve(p, pack ? bf::Goal::kFewestNodes : bf::Goal::kMostNodes, OracleOptions());
    stats->oracle_steps += best.steps;
    std::set<std::string> used;
    for (const BundlePlacement& pl : after->placed) used.insert(pl.node);
    if (!best.complete) {
      ++stats->unverified;
    } else if (static_cast<int>(used.size()) != best.distinct) {
      return where() + " was placed on " + std::to_string(used.size()) +
             " distinct nodes (surviving bundles' included); the " + (pack ? "fewest" : "most") +
             " possible is " + std::to_string(best.distinct) + ": " + WitnessString(p, best);
    } else {
      ++stats->first_opt;
    }
  }
  return "";
}

// Property 4: waiting groups do not fit now; INFEASIBLE / PENDING agree with
// the empty cluster.
std::string CheckWaiting(const std::vector<GroupView>& groups, const std::vector<NodeView>& nodes,
                         const Capacities& caps, Stats* stats) {
  for (const GroupView& g : groups) {
    auto where = [&] {
      return "group " + g.name + " " + StrategyName(g.strategy) + " (" + GroupStateName(g.state) +
             ")";
    };
    // The solver is exhaustive up to 8 bundles; past that it has a step
    // budget and may answer wrongly (see the report's known limitation).
    if (g.bundles.size() > 8) {
      ++stats->out_of_scope;
      continue;
    }
    if (g.state == GroupState::kPending || g.state == GroupState::kRescheduling) {
      bf::Problem p = WaitingProblem(g, nodes, caps, /*totals=*/false);
      bf::Answer a = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
      stats->oracle_steps += a.steps;
      if (!a.complete) {
        ++stats->unverified;
      } else if (a.feasible) {
        return where() + " is waiting, but its " + std::to_string(p.bundles.size()) +
               " unplaced bundles fit the free capacity now: " + WitnessString(p, a);
      } else {
        ++stats->waiting_proofs;
      }
    }
    if (g.state == GroupState::kPending || g.state == GroupState::kInfeasible) {
      bf::Problem p = WaitingProblem(g, nodes, caps, /*totals=*/true);
      bf::Answer a = bf::Solve(p, bf::Goal::kFeasible, OracleOptions());
      stats->oracle_steps += a.steps;
      if (!a.complete) {
        ++stats->unverified;
      } else if (a.feasible && g.state == GroupState::kInfeasible) {
        return where() + " fits the empty cluster: " + WitnessString(p, a);
      } else if (!a.feasible && g.state == GroupState::kPending) {
        return where() + " does not fit even the empty cluster";
      } else if (a.feasible) {
        ++stats->pending_totals;
      } else {
        ++stats->infeasible_totals;
      }
    }
  }
  return "";
}

// Property 7: explanations agree with single-node checks.
std::string CheckExplain(const PlacementEngine& e, const std::vector<GroupView>& groups,
                         const std::vector<NodeView>& nodes, const Capacities& caps, Stats* stats) {
  for (const GroupView& g : groups) {
    if (g.state == GroupState::kCreated || g.state == GroupState::kRemoved) continue;
    auto where = [&] {
      return "explanation of group " + g.name + " " + StrategyName(g.strategy) + " (" +
             GroupStateName(g.state) + ")";
    };
    std::optional<Explanation> ex = e.Explain(g.name);
    if (!ex) return where() + ": missing";
    if (ex->reason.empty()) return where() + ": empty reason";
    if (ex->nodes.size() != nodes.size()) return where() + ": not one entry per live node";
    std::vector<int> todo = UnplacedBundles(g);
    std::vector<bf::Bundle> waiting;
    for (int b : todo) waiting.push_back(bf::FromSpec(g.bundles[b]));
    std::set<std::string> pinned;
    for (const BundlePlacement& p : g.placed) pinned.insert(p.node);
    int fits = 0, full = 0, never = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodeExplanation& ne = ex->nodes[i];
      if (ne.node != nodes[i].name) return where() + ": nodes out of order";
      const bf::Node& free = caps.free[i];
      const bf::Node& total = caps.total[i];
      NodeVerdict want;
      if (g.strategy == Strategy::kStrictSpread && pinned.count(nodes[i].name)) {
        want = NodeVerdict::kUsedByGroup;
      } else if (g.strategy == Strategy::kStrictPack) {
        want = bf::FitsTogether(free, waiting)    ? NodeVerdict::kFitsNow
               : bf::FitsTogether(total, waiting) ? NodeVerdict::kFullNow
                                                  : NodeVerdict::kNeverFits;
      } else {
        bool now = false, ever = false;
        for (const bf::Bundle& b : waiting) {
          std::vector<bf::Bundle> one = {b};
          now = now || bf::FitsTogether(free, one);
          ever = ever || bf::FitsTogether(total, one);
        }
        want = now ? NodeVerdict::kFitsNow : ever ? NodeVerdict::kFullNow : NodeVerdict::kNeverFits;
      }
      if (ne.verdict != want) {
        return where() + ": node " + ne.node + " is " + NodeVerdictName(ne.verdict) +
               ", the oracle says " + NodeVerdictName(want);
      }
      fits += want == NodeVerdict::kFitsNow;
      full += want == NodeVerdict::kFullNow;
      never += want == NodeVerdict::kNeverFits;
      if ((want == NodeVerdict::kFullNow || want == NodeVerdict::kNeverFits) &&
          g.strategy != Strategy::kStrictPack) {
        if (std::find(todo.begin(), todo.end(), ne.bundle) == todo.end()) {
          return where() + ": node " + ne.node + " names bundle " + std::to_string(ne.bundle) +
                 ", which is not waiting";
        }
        if (ne.resource.empty() || !(ne.need > ne.have)) {
          return where() + ": node " + ne.node + " says short of '" + ne.resource + "' need " +
                 ne.need.ToString() + " have " + ne.have.ToString();
        }
      }
    }
    if (ex->fits_now != fits || ex->full_now != full || ex->never_fits != never) {
      return where() + ": counts " + std::to_string(ex->fits_now) + "/" +
             std::to_string(ex->full_now) + "/" + std::to_string(ex->never_fits) + " != verdicts " +
             std::to_string(fits) + "/" + std::to_string(full) + "/" + std::to_string(never);
    }
    ++stats->explained;
  }
  return "";
}

std::string CheckAll(const PlacementEngine& e, const std::vector<GroupView>& groups,
                     const std::vector<NodeView>& nodes, Tracker* tracker, const Op& op, int step,
                     bool oracle, Stats* stats) {
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

std::string CheckAll(const PlacementEngine& e, Tracker* tracker, const Op& op, int step,
                     bool oracle, Stats* stats) {
  return CheckAll(e, e.Groups(), e.Nodes(), tracker, op, step, oracle, stats);
}

// ---------------------------------------------------------------- minimizing

// Returns "" when the op list passes (or is not a valid op list).
using CaseRunner = std::function<std::string(const std::vector<Op>&)>;

// Drops ops, then bundles, while the case still fails.
std::vector<Op> Minimize(std::vector<Op> ops, const CaseRunner& run) {
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

std::string FailureReport(uint64_t seed, const std::string& error, const std::vector<Op>& ops,
                          const CaseRunner& run) {
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
std::string RunChecked(const std::vector<Op>& ops, bool oracle, Stats* stats) {
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

void PrintStats(const char* what, const Stats& s, double seconds) {
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

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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
}  // namespace berth
