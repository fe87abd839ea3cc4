// Slurm's list notations: hostlists ("node[1-3]"), index lists ("0,4-5") and gres ("gpu:a100:4").

#include <algorithm>
#include <set>
#include <utility>

#include "common/text.h"
#include "runtime/slurm/slurm_parse.h"
#include "runtime/slurm/slurm_text.h"

namespace berth::runtime::slurm {
namespace {

// "a-b" or "a" inside brackets, appended to `out` with zero padding to the
// width of a's text. `budget` is how many more names may be made.
Status ExpandRange(std::string_view hostlist, std::string_view range, size_t budget,
                   std::vector<std::string>* out) {
  auto bad = [&](std::string_view what) {
    return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": range " +
                       common::QuoteForeign(range) + " " + std::string(what));
  };
  size_t dash = range.find('-');
  std::string_view lo_text = range.substr(0, dash);
  std::string_view hi_text = dash == std::string_view::npos ? lo_text : range.substr(dash + 1);
  int64_t lo = 0;
  int64_t hi = 0;
  if (!ParseWhole(lo_text, &lo) || !ParseWhole(hi_text, &hi)) {
    return bad("is not a number or a number-number range");
  }
  if (hi < lo) return bad("ends below its start");
  if (static_cast<uint64_t>(hi - lo) >= budget) {
    return bad("makes more than " + std::to_string(kMaxHosts) + " names");
  }
  const size_t width = lo_text.size();
  for (int64_t v = lo; v <= hi; ++v) {
    std::string digits = std::to_string(v);
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    out->push_back(std::move(digits));
  }
  return Status::Ok();
}

// One name pattern without top-level separators: "r[1-2]n[01-02]x".
Status ExpandOne(std::string_view hostlist, std::string_view pattern, size_t budget,
                 std::vector<std::string>* out) {
  std::vector<std::string> names = {""};
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ']') {
      return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": ']' without '['");
    }
    if (pattern[i] != '[') {
      size_t next = pattern.find_first_of("[]", i);
      std::string_view literal = pattern.substr(i, next - i);
      for (std::string& n : names) n += literal;
      i = next == std::string_view::npos ? pattern.size() : next;
      continue;
    }
    size_t close = pattern.find(']', i);
    if (close == std::string_view::npos) {
      return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": '[' without ']'");
    }
    std::string_view inside = pattern.substr(i + 1, close - i - 1);
    if (inside.find('[') != std::string_view::npos) {
      return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) +
                         ": brackets inside brackets");
    }
    if (inside.empty())
      return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": empty brackets");
    std::vector<std::string> values;
    size_t per_name_budget = budget / names.size();
    while (true) {
      size_t comma = inside.find(',');
      std::string_view range = inside.substr(0, comma);
      if (values.size() >= per_name_budget) {
        return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": more than " +
                           std::to_string(kMaxHosts) + " names");
      }
      BERTH_RETURN_IF_ERROR(ExpandRange(hostlist, range, per_name_budget - values.size(), &values));
      if (comma == std::string_view::npos) break;
      inside.remove_prefix(comma + 1);
    }
    std::vector<std::string> product;
    product.reserve(names.size() * values.size());
    for (const std::string& n : names) {
      for (const std::string& v : values) product.push_back(n + v);
    }
    names = std::move(product);
    i = close + 1;
  }
  for (std::string& n : names) out->push_back(std::move(n));
  return Status::Ok();
}

// Parses a gres count: digits with an optional K, M, G or T (powers of 1024).
bool ParseGresCount(std::string_view s, int64_t* out) {
  int64_t mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K':
      case 'k':
        mult = int64_t{1} << 10;
        break;
      case 'M':
      case 'm':
        mult = int64_t{1} << 20;
        break;
      case 'G':
      case 'g':
        mult = int64_t{1} << 30;
        break;
      case 'T':
      case 't':
        mult = int64_t{1} << 40;
        break;
      default:
        break;
    }
    if (mult != 1) s.remove_suffix(1);
  }
  int64_t v = 0;
  if (!ParseWhole(s, &v) || v > int64_t{1'000'000'000'000'000} / mult) return false;
  *out = v * mult;
  return true;
}

Result<Gres> ParseOneGres(std::string_view entry, std::string_view source) {
  auto bad = [&](std::string_view what) {
    return InvalidSpec(std::string(source) + ": gres " + common::QuoteForeign(entry) + ": " +
                       std::string(what));
  };
  Gres g;
  std::string_view main = entry;
  size_t paren = entry.find('(');
  if (paren != std::string_view::npos) {
    main = entry.substr(0, paren);
    std::string_view rest = entry.substr(paren);
    // One or more "(...)" groups; IDX is the one berth reads.
    while (!rest.empty()) {
      if (rest.front() != '(') return bad("text after ')'");
      size_t close = rest.find(')');
      if (close == std::string_view::npos) return bad("'(' without ')'");
      std::string_view detail = rest.substr(1, close - 1);
      if (detail.substr(0, 4) == "IDX:") {
        std::string_view idx = detail.substr(4);
        g.has_indices = true;
        if (idx != "N/A") {
          auto indices =
              ParseIndexList(idx, std::string(source) + ": gres " + common::QuoteForeign(entry));
          if (!indices) return indices.error();
          g.indices = std::move(*indices);
        }
      }
      rest.remove_prefix(close + 1);
    }
  }
  std::vector<std::string_view> parts;
  while (true) {
    size_t colon = main.find(':');
    parts.push_back(main.substr(0, colon));
    if (colon == std::string_view::npos) break;
    main.remove_prefix(colon + 1);
  }
  if (parts[0].empty()) return bad("no name");
  g.name = std::string(parts[0]);
  parts.erase(parts.begin());
  parts.erase(std::remove(parts.begin(), parts.end(), "no_consume"), parts.end());
  g.count = 1;  // Slurm's default when no count is given
  if (!parts.empty() && ParseGresCount(parts.back(), &g.count)) parts.pop_back();
  if (parts.size() > 1) return bad("expected name[:type][:count]");
  if (!parts.empty()) {
    if (parts[0].empty()) return bad("empty type");
    g.type = std::string(parts[0]);
  }
  return g;
}

}  // namespace

Result<std::vector<std::string>> ExpandHostlist(std::string_view hostlist) {
  std::vector<std::string> out;
  std::string_view rest = Trim(hostlist);
  if (rest == "(null)") return out;
  while (!rest.empty()) {
    // The next name pattern ends at a comma or space outside brackets.
    size_t end = 0;
    bool in_brackets = false;
    for (; end < rest.size(); ++end) {
      const char c = rest[end];
      if (c == '[') in_brackets = true;
      if (c == ']') in_brackets = false;
      if (!in_brackets && (c == ',' || c == ' ')) break;
    }
    std::string_view pattern = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (pattern.empty()) continue;
    if (out.size() >= kMaxHosts) {
      return InvalidSpec("hostlist " + common::QuoteForeign(hostlist) + ": more than " +
                         std::to_string(kMaxHosts) + " names");
    }
    BERTH_RETURN_IF_ERROR(ExpandOne(hostlist, pattern, kMaxHosts - out.size(), &out));
  }
  return out;
}

Result<std::vector<int>> ParseIndexList(std::string_view text, std::string_view source) {
  std::set<int> seen;
  std::string_view rest = Trim(text);
  if (rest.empty()) return std::vector<int>{};
  auto bad = [&](std::string_view item, std::string_view what) {
    return InvalidSpec(std::string(source) + ": index list " + common::QuoteForeign(text) + ": " +
                       common::QuoteForeign(item) + " " + std::string(what));
  };
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    size_t dash = item.find('-');
    int64_t lo = 0;
    int64_t hi = 0;
    if (!ParseWhole(item.substr(0, dash), &lo) ||
        !ParseWhole(dash == std::string_view::npos ? item : item.substr(dash + 1), &hi)) {
      return bad(item, "is not an index or an index-index range");
    }
    if (hi < lo) return bad(item, "ends below its start");
    if (hi >= kMaxIndex) return bad(item, "is above " + std::to_string(kMaxIndex - 1));
    for (int64_t v = lo; v <= hi; ++v) seen.insert(static_cast<int>(v));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return std::vector<int>(seen.begin(), seen.end());
}

Result<std::vector<Gres>> ParseGres(std::string_view text, std::string_view source) {
  std::vector<Gres> out;
  std::string_view rest = Trim(text);
  if (rest.empty() || rest == "(null)" || rest == "N/A") return out;
  while (!rest.empty()) {
    size_t end = 0;
    int depth = 0;
    for (; end < rest.size(); ++end) {
      if (rest[end] == '(') ++depth;
      if (rest[end] == ')') {
        if (depth == 0) {
          return InvalidSpec(std::string(source) + ": gres " + common::QuoteForeign(text) +
                             ": ')' without '('");
        }
        --depth;
      }
      if (rest[end] == ',' && depth == 0) break;
    }
    std::string_view entry = Trim(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (entry.empty()) {
      return InvalidSpec(std::string(source) + ": gres " + common::QuoteForeign(text) +
                         ": empty entry");
    }
    auto g = ParseOneGres(entry, source);
    if (!g) return g.error();
    out.push_back(std::move(*g));
  }
  return out;
}

Result<std::vector<int>> ParseGpuIndices(std::string_view gres_detail, std::string_view source) {
  auto entries = ParseGres(gres_detail, source);
  if (!entries) return entries.error();
  std::set<int> all;
  for (const Gres& g : *entries) {
    if (g.name == "gpu") all.insert(g.indices.begin(), g.indices.end());
  }
  return std::vector<int>(all.begin(), all.end());
}
}  // namespace berth::runtime::slurm
