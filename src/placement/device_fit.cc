#include "placement/device_fit.h"

#include <algorithm>
#include <numeric>

namespace berth::placement {
namespace {

// Bound on search steps for one node's fractional packing. Far above what a
// node with a handful of shared devices needs; beyond it we answer "no fit"
// (conservative: never over-commits a device).
constexpr int kMaxPackSteps = 200000;

struct Packing {
  std::vector<int> full_ids;    // fully free devices, ascending
  std::vector<int> whole_take;  // per ask: index into full_ids of its first device, or -1
  std::vector<int> bin_device;  // per bin: device id, or -(k+1) for the k-th spare full device
  std::vector<int> piece_bin;   // per fractional ask (in asks order): its bin, or -1
};

class FractionalPacker {
 public:
  FractionalPacker(std::vector<Units> capacity, std::vector<Units> pieces)
      : rem_(std::move(capacity)), pieces_(std::move(pieces)), at_(pieces_.size(), -1) {}

  bool Run() { return Place(0); }
  const std::vector<int>& assignment() const { return at_; }

 private:
  bool Place(size_t i) {
    if (i == pieces_.size()) return true;
    if (++steps_ > kMaxPackSteps) return false;
    Units p = pieces_[i];
    // Two bins with the same remaining capacity are interchangeable here.
    std::vector<Units> tried;
    for (size_t b = 0; b < rem_.size(); ++b) {
      if (rem_[b] < p) continue;
      if (std::find(tried.begin(), tried.end(), rem_[b]) != tried.end()) continue;
      tried.push_back(rem_[b]);
      rem_[b] -= p;
      at_[i] = static_cast<int>(b);
      if (Place(i + 1)) return true;
      rem_[b] += p;
      if (steps_ > kMaxPackSteps) return false;
    }
    at_[i] = -1;
    return false;
  }

  std::vector<Units> rem_;
  std::vector<Units> pieces_;
  std::vector<int> at_;
  int steps_ = 0;
};

std::optional<Packing> Pack(std::span<const Units> device_free, std::span<const GpuAsk> asks) {
  Packing out;
  for (size_t d = 0; d < device_free.size(); ++d) {
    if (device_free[d] == kDevice) out.full_ids.push_back(static_cast<int>(d));
  }
  size_t whole_needed = 0;
  out.whole_take.assign(asks.size(), -1);
  std::vector<size_t> fractional;  // indices into asks
  for (size_t a = 0; a < asks.size(); ++a) {
    if (asks[a].units >= kDevice) {
      out.whole_take[a] = static_cast<int>(whole_needed);
      whole_needed += static_cast<size_t>(asks[a].units / kDevice);
    } else if (asks[a].units > 0) {
      fractional.push_back(a);
    }
  }
  if (whole_needed > out.full_ids.size()) return std::nullopt;
  out.piece_bin.assign(asks.size(), -1);
  if (fractional.empty()) return out;

  // Bins: partly used devices, fullest first (best fit), then the whole
  // devices the whole asks left over.
  std::vector<int> partial;
  for (size_t d = 0; d < device_free.size(); ++d) {
    if (device_free[d] > 0 && device_free[d] < kDevice) partial.push_back(static_cast<int>(d));
  }
  std::stable_sort(partial.begin(), partial.end(),
                   [&](int a, int b) { return device_free[a] < device_free[b]; });
  std::vector<Units> capacity;
  for (int d : partial) {
    out.bin_device.push_back(d);
    capacity.push_back(device_free[d]);
  }
  size_t spare = out.full_ids.size() - whole_needed;
  for (size_t k = 0; k < spare; ++k) {
    out.bin_device.push_back(-static_cast<int>(k) - 1);
    capacity.push_back(kDevice);
  }

  // Largest pieces first; ties keep ask order, so the result is stable.
  std::stable_sort(fractional.begin(), fractional.end(),
                   [&](size_t a, size_t b) { return asks[a].units > asks[b].units; });
  std::vector<Units> pieces;
  Units sum = 0;
  for (size_t a : fractional) {
    pieces.push_back(asks[a].units);
    sum += asks[a].units;
  }
  if (sum > std::accumulate(capacity.begin(), capacity.end(), Units{0})) return std::nullopt;
  FractionalPacker packer(std::move(capacity), std::move(pieces));
  if (!packer.Run()) return std::nullopt;
  for (size_t i = 0; i < fractional.size(); ++i) {
    out.piece_bin[fractional[i]] = packer.assignment()[i];
  }
  // Spare full devices used by fractional asks come after those of whole asks.
  for (int& dev : out.bin_device) {
    if (dev < 0) dev = out.full_ids[whole_needed + static_cast<size_t>(-dev - 1)];
  }
  return out;
}

}  // namespace

bool GpuAsksFit(std::span<const Units> device_free, std::span<const GpuAsk> asks) {
  // Fast path: one ask needs no packing.
  if (asks.size() == 1) {
    Units u = asks[0].units;
    if (u == 0) return true;
    if (u >= kDevice) {
      Units full = 0;
      for (Units f : device_free) full += f == kDevice ? 1 : 0;
      return full * kDevice >= u;
    }
    return std::any_of(device_free.begin(), device_free.end(), [u](Units f) { return f >= u; });
  }
  return Pack(device_free, asks).has_value();
}

std::optional<std::vector<std::vector<GpuShare>>> AssignGpus(std::span<const Units> device_free,
                                                             std::span<const GpuAsk> asks) {
  // Fast path for the common single ask: the same answer Pack() gives
  // (lowest free whole devices; the fullest device that holds a share).
  if (asks.size() == 1 && asks[0].units > 0) {
    Units u = asks[0].units;
    std::vector<std::vector<GpuShare>> result(1);
    if (u >= kDevice) {
      for (size_t d = 0;
           d < device_free.size() && result[0].size() < static_cast<size_t>(u / kDevice); ++d) {
        if (device_free[d] == kDevice)
          result[0].push_back({static_cast<int>(d), Quantity::Whole(1)});
      }
      if (result[0].size() < static_cast<size_t>(u / kDevice)) return std::nullopt;
      return result;
    }
    int best = -1;
    for (size_t d = 0; d < device_free.size(); ++d) {
      Units f = device_free[d];
      if (f < u) continue;
      // Partly used devices before whole ones, the fullest first, then id.
      auto rank = [](Units free) { return free == kDevice ? kDevice * 2 : free; };
      if (best < 0 || rank(f) < rank(device_free[best])) best = static_cast<int>(d);
    }
    if (best < 0) return std::nullopt;
    result[0].push_back({best, Quantity::Units(u)});
    return result;
  }
  std::optional<Packing> packing = Pack(device_free, asks);
  if (!packing) return std::nullopt;
  std::vector<std::vector<GpuShare>> result(asks.size());
  for (size_t a = 0; a < asks.size(); ++a) {
    if (asks[a].units >= kDevice) {
      auto first = static_cast<size_t>(packing->whole_take[a]);
      for (Units k = 0; k < asks[a].units / kDevice; ++k) {
        result[a].push_back(
            {packing->full_ids[first + static_cast<size_t>(k)], Quantity::Whole(1)});
      }
    } else if (asks[a].units > 0) {
      int bin = packing->piece_bin[a];
      result[a].push_back(
          {packing->bin_device[static_cast<size_t>(bin)], Quantity::Units(asks[a].units)});
    }
  }
  return result;
}

}  // namespace berth::placement
