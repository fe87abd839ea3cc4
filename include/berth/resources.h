#pragma once
// Resource quantities and sets.
//
// A Quantity is an exact fixed-point number with a resolution of 1e-4 (an
// int64 count of ten-thousandths), so repeated add and subtract never drift.
// There is deliberately no conversion from double; parse text or numbers with
// Quantity::FromDouble, which refuses values finer than the resolution.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/status.h"

namespace berth {

class Quantity {
 public:
  static constexpr int64_t kScale = 10000;  // units per 1.0
  // Largest accepted value, 1e14 (100 TiB of memory in bytes). Keeps sums of
  // many quantities far from int64 overflow.
  static constexpr int64_t kMaxUnits = int64_t{100'000'000'000'000} * kScale;

  constexpr Quantity() = default;
  static constexpr Quantity Units(int64_t units) { return Quantity(units); }
  static constexpr Quantity Whole(int64_t n) { return Quantity(n * kScale); }
  // Parses a JSON number. Errors name `field`: negative, not finite, above
  // the maximum, or finer than 0.0001.
  static Result<Quantity> FromDouble(double value, std::string_view field);
  static Result<Quantity> FromInteger(int64_t value, std::string_view field);

  constexpr int64_t units() const { return units_; }
  constexpr bool IsZero() const { return units_ == 0; }
  constexpr bool IsWhole() const { return units_ % kScale == 0; }
  constexpr int64_t WholePart() const { return units_ / kScale; }
  double ToDouble() const { return static_cast<double>(units_) / kScale; }
  // Shortest exact decimal: "8", "0.5", "0.0001".
  std::string ToString() const;

  constexpr Quantity operator+(Quantity o) const { return Quantity(units_ + o.units_); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(units_ - o.units_); }
  constexpr Quantity& operator+=(Quantity o) {
    units_ += o.units_;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    units_ -= o.units_;
    return *this;
  }
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 takes the 0 of a defaulted <=> for a null
  constexpr auto operator<=>(const Quantity&) const = default;

 private:
  constexpr explicit Quantity(int64_t units) : units_(units) {}
  int64_t units_ = 0;
};

// Well-known resource names. GPU is special: it is made of devices.
inline constexpr std::string_view kCpu = "CPU";
inline constexpr std::string_view kGpu = "GPU";
inline constexpr std::string_view kMemory = "memory";

// A set of named quantities, kept sorted by name, one entry per name.
// Zero entries are kept (a bundle may say GPU: 0 explicitly).
class ResourceSet {
 public:
  ResourceSet() = default;
  ResourceSet(std::initializer_list<std::pair<std::string, Quantity>> items);

  void Set(std::string_view name, Quantity q);
  Quantity Get(std::string_view name) const;  // zero when absent
  bool Has(std::string_view name) const;
  const std::vector<std::pair<std::string, Quantity>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // True when every entry is zero (or there are none).
  bool AllZero() const;
  std::string ToString() const;  // {CPU: 1, GPU: 0.5}

  bool operator==(const ResourceSet&) const = default;

 private:
  std::vector<std::pair<std::string, Quantity>> items_;
};

}  // namespace berth
