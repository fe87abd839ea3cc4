// Reading Slurm's text output: lines, "|"-separated fields, trimmed text, whole numbers.

#include "runtime/slurm/slurm_text.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace berth::runtime::slurm {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ParseWhole(std::string_view s, int64_t* out) {
  if (!IsDigits(s) || s.size() > kMaxDigits) return false;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  *out = v;
  return true;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

namespace {

// Splits a line printed with a "|" after each of `n` fields. The last field
// gets the rest of the line (less the final "|"), so a "|" inside it survives.
bool SplitFields(std::string_view line, size_t n, std::vector<std::string_view>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '|') line.remove_suffix(1);
  for (size_t i = 0; i + 1 < n; ++i) {
    size_t bar = line.find('|');
    if (bar == std::string_view::npos) return false;
    fields->push_back(line.substr(0, bar));
    line.remove_prefix(bar + 1);
  }
  fields->push_back(line);
  return true;
}

}  // namespace

Result<std::vector<Row>> Rows(std::string_view text, std::string_view source, size_t fields,
                              std::string_view header, const std::string& command) {
  std::vector<Row> rows;
  std::vector<std::string_view> lines = Lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (Trim(line).empty()) continue;
    Row row{i + 1, {}};
    if (!SplitFields(line, fields, &row.fields)) {
      return LineError(source, i + 1)(
          "line", line,
          "expected " + std::to_string(fields) + " fields separated by '|' (" + command + ")");
    }
    if (row.fields[0] == header) continue;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace berth::runtime::slurm
