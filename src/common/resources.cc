#include "berth/resources.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace berth {

Result<Quantity> Quantity::FromDouble(double value, std::string_view field) {
  std::string f(field);
  if (!std::isfinite(value)) return InvalidSpec(f + ": value is not a finite number");
  if (value < 0) {
    return InvalidSpec(f + ": " + std::to_string(value) + " is negative; quantities must be >= 0");
  }
  double scaled = value * kScale;
  if (scaled > static_cast<double>(kMaxUnits)) {
    return InvalidSpec(f + ": " + std::to_string(value) + " is above the maximum 1e14");
  }
  double rounded = std::nearbyint(scaled);
  // JSON decimals are not exact in binary; accept what is within rounding
  // noise of a multiple of 1e-4 and refuse anything finer, rather than
  // silently truncating as Ray does.
  if (std::fabs(scaled - rounded) > 1e-6 * std::max(1.0, rounded)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", value);
    return InvalidSpec(f + ": " + buf +
                       " is finer than the resolution 0.0001; round it to 4 decimal places");
  }
  return Quantity(static_cast<int64_t>(rounded));
}

Result<Quantity> Quantity::FromInteger(int64_t value, std::string_view field) {
  std::string f(field);
  if (value < 0) {
    return InvalidSpec(f + ": " + std::to_string(value) + " is negative; quantities must be >= 0");
  }
  if (value > kMaxUnits / kScale) {
    return InvalidSpec(f + ": " + std::to_string(value) + " is above the maximum 1e14");
  }
  return Quantity(value * kScale);
}

std::string Quantity::ToString() const {
  int64_t whole = units_ / kScale;
  int64_t frac = std::llabs(units_ % kScale);
  std::string s = (units_ < 0 && whole == 0 ? "-" : "") + std::to_string(whole);
  if (frac == 0) return s;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(frac));
  std::string digits(buf);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return s + "." + digits;
}

ResourceSet::ResourceSet(std::initializer_list<std::pair<std::string, Quantity>> items) {
  for (const auto& [name, q] : items) Set(name, q);
}

void ResourceSet::Set(std::string_view name, Quantity q) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& item, std::string_view n) { return item.first < n; });
  if (it != items_.end() && it->first == name) {
    it->second = q;
  } else {
    items_.insert(it, {std::string(name), q});
  }
}

Quantity ResourceSet::Get(std::string_view name) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& item, std::string_view n) { return item.first < n; });
  return (it != items_.end() && it->first == name) ? it->second : Quantity();
}

bool ResourceSet::Has(std::string_view name) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& item, std::string_view n) { return item.first < n; });
  return it != items_.end() && it->first == name;
}

bool ResourceSet::AllZero() const {
  return std::all_of(items_.begin(), items_.end(), [](const auto& i) { return i.second.IsZero(); });
}

std::string ResourceSet::ToString() const {
  std::string s = "{";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i > 0) s += ", ";
    s += items_[i].first + ": " + items_[i].second.ToString();
  }
  return s + "}";
}

}  // namespace berth
