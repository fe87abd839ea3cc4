#pragma once
// Shared by the placement property tests: the knobs (BERTH_PROPERTY_SCALE,
// BERTH_PROPERTY_SEED), a portable random number generator and small helpers.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "berth/resources.h"
#include "tests/property/brute_force.h"

namespace berth::property_test {

namespace bf = brute_force;
using bf::Units;

// ---------------------------------------------------------------- knobs

inline double Scale() {
  static const double scale = [] {
    const char* v = std::getenv("BERTH_PROPERTY_SCALE");
    if (!v || !*v) return 1.0;
    char* end = nullptr;
    double d = std::strtod(v, &end);
    return (end == v || !(d > 0)) ? 1.0 : d;
  }();
  return scale;
}

inline int Iterations(int base) {
  return std::max(1, static_cast<int>(std::llround(base * Scale())));
}

inline std::optional<uint64_t> OnlySeed() {
  const char* v = std::getenv("BERTH_PROPERTY_SEED");
  if (!v || !*v) return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

// Seeds for `count` cases of one property, or just BERTH_PROPERTY_SEED.
inline std::vector<uint64_t> Seeds(uint64_t base, int count) {
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

inline Quantity Q(double v) { return Quantity::Units(std::llround(v * Quantity::kScale)); }
inline Quantity GiB(int64_t n) { return Quantity::Whole(n << 30); }

inline double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace berth::property_test
