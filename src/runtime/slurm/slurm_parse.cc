#include "runtime/slurm/slurm_parse.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <set>
#include <utility>

#include "berth/resources.h"
#include "common/text.h"

namespace berth::runtime::slurm {
namespace {

constexpr int64_t kMib = int64_t{1} << 20;
// Whole numbers in Slurm's output are far below this; more digits are refused
// rather than risk an overflow.
constexpr size_t kMaxDigits = 15;

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

// A whole number of at most kMaxDigits digits, nothing else.
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

class LineError {
 public:
  LineError(std::string_view source, size_t line_no) : source_(source), line_no_(line_no) {}
  Status operator()(std::string_view field, std::string_view value, std::string_view what) const {
    return InvalidSpec(std::string(source_) + ":" + std::to_string(line_no_) + ": " +
                       std::string(field) + " " + common::QuoteForeign(value) + ": " +
                       std::string(what));
  }

 private:
  std::string_view source_;
  size_t line_no_;
};

// One line of a command's output, split into its fields.
struct Row {
  size_t line_no = 0;
  std::vector<std::string_view> fields;
};

// The non-empty lines of `text`, each split into exactly `fields` fields,
// without the header line (first field `header`, there when -h was left
// out). `command` is named in the error for a line of another shape.
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
  int64_t lo = 0, hi = 0;
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

std::string StateWords(NodeState s) {
  switch (s) {
    case NodeState::kDown:
      return "down";
    case NodeState::kDrained:
      return "drained";
    case NodeState::kDraining:
      return "draining";
    case NodeState::kFail:
      return "failed";
    case NodeState::kFailing:
      return "failing";
    case NodeState::kInvalid:
      return "invalid (its slurmd's registration does not match slurm.conf)";
    case NodeState::kMaint:
      return "in maintenance";
    case NodeState::kReserved:
      return "reserved";
    case NodeState::kRebooting:
      return "rebooting";
    case NodeState::kFuture:
      return "not in service yet (FUTURE)";
    case NodeState::kBlocked:
      return "blocked";
    case NodeState::kUnknown:
      return "in an unknown state (its slurmd has not registered)";
    default:
      return "";
  }
}

}  // namespace

// ---------------------------------------------------------------- formats

std::vector<std::string> SinfoArgs() { return {"-N", "-h", "-O", std::string(kSinfoFormat)}; }

std::vector<std::string> SqueueJobArgs(const std::vector<std::string>& job_ids) {
  std::vector<std::string> args = {"-h", "-t", "all", "-O", std::string(kSqueueFormat)};
  if (!job_ids.empty()) {
    args.push_back("-j");
    args.push_back(Join(job_ids, ","));
  }
  return args;
}

std::vector<std::string> SqueueStepArgs(const std::vector<std::string>& job_ids) {
  std::vector<std::string> args = {"-s", "-h", "-O", std::string(kSqueueStepsFormat)};
  if (!job_ids.empty()) {
    args.push_back("-j");
    args.push_back(Join(job_ids, ","));
  }
  return args;
}

// ---------------------------------------------------------------- hostlists, indices, gres

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
    int64_t lo = 0, hi = 0;
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

// ---------------------------------------------------------------- nodes

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kIdle:
      return "IDLE";
    case NodeState::kMixed:
      return "MIXED";
    case NodeState::kAllocated:
      return "ALLOCATED";
    case NodeState::kCompleting:
      return "COMPLETING";
    case NodeState::kPlanned:
      return "PLANNED";
    case NodeState::kDown:
      return "DOWN";
    case NodeState::kDrained:
      return "DRAINED";
    case NodeState::kDraining:
      return "DRAINING";
    case NodeState::kFail:
      return "FAIL";
    case NodeState::kFailing:
      return "FAILING";
    case NodeState::kInvalid:
      return "INVALID";
    case NodeState::kMaint:
      return "MAINT";
    case NodeState::kReserved:
      return "RESERVED";
    case NodeState::kRebooting:
      return "REBOOTING";
    case NodeState::kPoweredDown:
      return "POWERED_DOWN";
    case NodeState::kPoweringDown:
      return "POWERING_DOWN";
    case NodeState::kPoweringUp:
      return "POWERING_UP";
    case NodeState::kFuture:
      return "FUTURE";
    case NodeState::kBlocked:
      return "BLOCKED";
    case NodeState::kUnknown:
      return "UNKNOWN";
    case NodeState::kOther:
      return "OTHER";
  }
  return "OTHER";
}

NodeStatus ParseNodeState(std::string_view compact) {
  NodeStatus st;
  st.text = std::string(Trim(compact));
  std::string lower;
  for (char c : st.text) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  std::string_view base = lower;
  // sinfo's compact suffixes: * not responding, ~ powered off, # powering up,
  // % powering down, ! power down pending, @ reboot pending, ^ rebooting,
  // $ maintenance reservation, - planned by backfill.
  bool maint = false, rebooting = false, planned = false, powered_off = false;
  while (!base.empty() &&
         std::string_view("*~#%!@^$-").find(base.back()) != std::string_view::npos) {
    switch (base.back()) {
      case '*':
        st.not_responding = true;
        break;
      case '~':
        powered_off = true;
        break;
      case '^':
        rebooting = true;
        break;
      case '$':
        maint = true;
        break;
      case '-':
        planned = true;
        break;
      default:
        break;
    }
    base.remove_suffix(1);
  }
  // Long forms ("idle+drain+not_responding", as in StateComplete) are read too.
  bool drain = false;
  size_t plus = base.find('+');
  if (plus != std::string_view::npos) {
    std::string_view flags = base.substr(plus + 1);
    base = base.substr(0, plus);
    while (!flags.empty()) {
      size_t next = flags.find('+');
      std::string_view f = flags.substr(0, next);
      if (f == "drain") drain = true;
      if (f == "not_responding") st.not_responding = true;
      if (f == "maint") maint = true;
      if (f == "planned") planned = true;
      if (f == "powered_down" || f == "power_down") powered_off = true;
      if (f == "reboot_issued") rebooting = true;
      if (next == std::string_view::npos) break;
      flags.remove_prefix(next + 1);
    }
  }
  static const std::pair<std::string_view, NodeState> kNames[] = {
      {"idle", NodeState::kIdle},
      {"mix", NodeState::kMixed},
      {"mixed", NodeState::kMixed},
      {"alloc", NodeState::kAllocated},
      {"allocated", NodeState::kAllocated},
      {"comp", NodeState::kCompleting},
      {"completing", NodeState::kCompleting},
      {"plnd", NodeState::kPlanned},
      {"planned", NodeState::kPlanned},
      {"down", NodeState::kDown},
      {"drain", NodeState::kDrained},
      {"drained", NodeState::kDrained},
      {"drng", NodeState::kDraining},
      {"draining", NodeState::kDraining},
      {"fail", NodeState::kFail},
      {"failg", NodeState::kFailing},
      {"failing", NodeState::kFailing},
      {"inval", NodeState::kInvalid},
      {"invalid", NodeState::kInvalid},
      {"maint", NodeState::kMaint},
      {"resv", NodeState::kReserved},
      {"reserved", NodeState::kReserved},
      {"boot", NodeState::kRebooting},
      {"reboot", NodeState::kRebooting},
      {"pow_dn", NodeState::kPoweringDown},
      {"powering_down", NodeState::kPoweringDown},
      {"pow_up", NodeState::kPoweringUp},
      {"powering_up", NodeState::kPoweringUp},
      {"powered_down", NodeState::kPoweredDown},
      {"futr", NodeState::kFuture},
      {"future", NodeState::kFuture},
      {"blocked", NodeState::kBlocked},
      {"unk", NodeState::kUnknown},
      {"unknown", NodeState::kUnknown},
  };
  st.state = NodeState::kOther;
  for (const auto& [name, state] : kNames) {
    if (base == name) st.state = state;
  }
  if (drain) {
    st.state = (st.state == NodeState::kIdle || st.state == NodeState::kDrained)
                   ? NodeState::kDrained
                   : NodeState::kDraining;
  }
  if (st.state == NodeState::kIdle && powered_off) st.state = NodeState::kPoweredDown;
  if (st.state == NodeState::kIdle && planned) st.state = NodeState::kPlanned;

  switch (st.state) {
    case NodeState::kIdle:
    case NodeState::kMixed:
    case NodeState::kAllocated:
    case NodeState::kCompleting:
    case NodeState::kPlanned:
    case NodeState::kPoweredDown:
    case NodeState::kPoweringDown:
    case NodeState::kPoweringUp:
      st.usable = true;
      break;
    case NodeState::kOther:
      st.unusable_reason = "in a state berth does not know (" + common::QuoteForeign(st.text) + ")";
      break;
    default:
      st.unusable_reason = StateWords(st.state);
      break;
  }
  if (st.usable && rebooting) {
    st.usable = false;
    st.unusable_reason = "rebooting";
  }
  if (st.usable && maint) {
    st.usable = false;
    st.unusable_reason = "in a maintenance reservation";
  }
  if (st.not_responding) {
    st.usable = false;
    st.unusable_reason =
        st.unusable_reason.empty() ? "not responding" : st.unusable_reason + ", not responding";
  }
  return st;
}

Result<std::vector<SlurmNode>> ParseSinfo(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 12;
  std::vector<SlurmNode> nodes;
  BERTH_ASSIGN_OR_RETURN(std::vector<Row> rows,
                         Rows(text, source, kFields, "NODELIST",
                              "sinfo -N -h -O '" + std::string(kSinfoFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    const std::string_view name = Trim(f[0]);
    if (name.empty() || name.find_first_of(" ,[]") != std::string_view::npos) {
      return bad("NodeList", f[0], "is not one node name (run sinfo with -N)");
    }
    std::string_view partition = Trim(f[1]);
    bool is_default = false;
    if (!partition.empty() && partition.back() == '*') {
      is_default = true;
      partition.remove_suffix(1);
    }
    auto it = std::find_if(nodes.begin(), nodes.end(),
                           [&](const SlurmNode& n) { return n.spec.name == name; });
    if (it != nodes.end()) {
      // The same node in another partition: only the partition is new.
      if (!partition.empty() && std::find(it->partitions.begin(), it->partitions.end(),
                                          partition) == it->partitions.end()) {
        it->partitions.push_back(std::string(partition));
        it->spec.labels["partition"] = Join(it->partitions, ",");
      }
      if (is_default) it->default_partition = std::string(partition);
      continue;
    }

    SlurmNode node;
    node.spec.name = std::string(name);
    if (!partition.empty()) node.partitions.push_back(std::string(partition));
    if (is_default) node.default_partition = std::string(partition);
    node.status = ParseNodeState(f[2]);

    int64_t cpus = 0, mem_mb = 0, alloc_mem_mb = 0;
    if (!ParseWhole(Trim(f[3]), &cpus)) return bad("CPUs", f[3], "is not a whole number");
    if (!ParseWhole(Trim(f[4]), &mem_mb))
      return bad("Memory", f[4], "is not a whole number of MiB");
    if (!ParseWhole(Trim(f[5]), &alloc_mem_mb))
      return bad("AllocMem", f[5], "is not a whole number of MiB");
    const int64_t max_mb = Quantity::kMaxUnits / Quantity::kScale / kMib;
    if (mem_mb > max_mb) return bad("Memory", f[4], "is above 1e14 bytes");
    if (alloc_mem_mb > max_mb) return bad("AllocMem", f[5], "is above 1e14 bytes");
    auto cpu_q = Quantity::FromInteger(cpus, "CPUs");
    if (!cpu_q) return bad("CPUs", f[3], cpu_q.error().message());
    node.spec.resources.Set(kCpu, *cpu_q);
    node.spec.resources.Set(kMemory, Quantity::Whole(mem_mb * kMib));
    node.alloc_memory_bytes = alloc_mem_mb * kMib;

    // CPUsState: allocated/idle/other/total.
    std::string_view cpu_state = Trim(f[6]);
    size_t slash = cpu_state.find('/');
    if (!ParseWhole(cpu_state.substr(0, slash), &node.alloc_cpus) ||
        slash == std::string_view::npos) {
      return bad("CPUsState", f[6], "is not allocated/idle/other/total");
    }

    auto gres = ParseGres(f[7], std::string(source) + ":" + std::to_string(row.line_no) + ": Gres");
    if (!gres) return gres.error();
    int64_t gpus = 0;
    std::vector<std::string> types;
    for (const Gres& g : *gres) {
      if (g.name != "gpu") continue;
      gpus += g.count;
      if (!g.type.empty() && std::find(types.begin(), types.end(), g.type) == types.end()) {
        types.push_back(g.type);
      }
    }
    if (gpus > 1024) return bad("Gres", f[7], "declares more than 1024 GPUs");
    if (gpus > 0) node.spec.resources.Set(kGpu, Quantity::Whole(gpus));
    if (!types.empty()) node.spec.labels["gpu_type"] = Join(types, ",");

    auto used =
        ParseGres(f[8], std::string(source) + ":" + std::to_string(row.line_no) + ": GresUsed");
    if (!used) return used.error();
    std::set<int> used_ids;
    for (const Gres& g : *used) {
      if (g.name != "gpu") continue;
      node.gpus_used += g.count;
      used_ids.insert(g.indices.begin(), g.indices.end());
    }
    node.gpus_used_indices.assign(used_ids.begin(), used_ids.end());

    const std::string_view addr = Trim(f[9]);
    if (!addr.empty()) node.spec.labels["address"] = std::string(addr);
    if (!node.partitions.empty()) node.spec.labels["partition"] = Join(node.partitions, ",");
    node.spec.labels["state"] = node.status.text;
    const std::string_view features = Trim(f[10]);
    if (!features.empty() && features != "(null)")
      node.spec.labels["features"] = std::string(features);
    const std::string_view reason = Trim(f[11]);
    if (reason != "none" && reason != "(null)") node.reason = std::string(reason);
    if (!node.status.usable && !node.reason.empty()) {
      node.status.unusable_reason += ": " + node.reason;
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// ---------------------------------------------------------------- jobs and steps

namespace {

constexpr std::pair<std::string_view, JobState> kJobStates[] = {
    {"PENDING", JobState::kPending},       {"CONFIGURING", JobState::kConfiguring},
    {"RUNNING", JobState::kRunning},       {"SUSPENDED", JobState::kSuspended},
    {"COMPLETING", JobState::kCompleting}, {"RESIZING", JobState::kResizing},
    {"REQUEUED", JobState::kRequeued},     {"COMPLETED", JobState::kCompleted},
    {"CANCELLED", JobState::kCancelled},   {"FAILED", JobState::kFailed},
    {"TIMEOUT", JobState::kTimeout},       {"OUT_OF_MEMORY", JobState::kOutOfMemory},
    {"NODE_FAIL", JobState::kNodeFail},    {"BOOT_FAIL", JobState::kBootFail},
    {"DEADLINE", JobState::kDeadline},     {"PREEMPTED", JobState::kPreempted},
};

}  // namespace

const char* JobStateName(JobState s) {
  for (const auto& [name, state] : kJobStates) {
    if (state == s) return name.data();
  }
  return "OTHER";
}

JobState ParseJobState(std::string_view text) {
  std::string_view t = Trim(text);
  t = t.substr(0, t.find(' '));  // "CANCELLED by 0"
  for (const auto& [name, state] : kJobStates) {
    if (t == name) return state;
  }
  // squeue's short codes, for callers that asked for %t.
  static const std::pair<std::string_view, JobState> kShort[] = {
      {"PD", JobState::kPending},   {"CF", JobState::kConfiguring}, {"R", JobState::kRunning},
      {"S", JobState::kSuspended},  {"CG", JobState::kCompleting},  {"RS", JobState::kResizing},
      {"RQ", JobState::kRequeued},  {"CD", JobState::kCompleted},   {"CA", JobState::kCancelled},
      {"F", JobState::kFailed},     {"TO", JobState::kTimeout},     {"OOM", JobState::kOutOfMemory},
      {"NF", JobState::kNodeFail},  {"BF", JobState::kBootFail},    {"DL", JobState::kDeadline},
      {"PR", JobState::kPreempted},
  };
  for (const auto& [name, state] : kShort) {
    if (t == name) return state;
  }
  return JobState::kOther;
}

bool IsFinal(JobState s) {
  switch (s) {
    case JobState::kCompleted:
    case JobState::kCancelled:
    case JobState::kFailed:
    case JobState::kTimeout:
    case JobState::kOutOfMemory:
    case JobState::kNodeFail:
    case JobState::kBootFail:
    case JobState::kDeadline:
    case JobState::kPreempted:
      return true;
    default:
      return false;
  }
}

Result<std::vector<SlurmJob>> ParseSqueue(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 8;
  std::vector<SlurmJob> jobs;
  BERTH_ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      Rows(text, source, kFields, "JOBID", "squeue -h -O '" + std::string(kSqueueFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    SlurmJob job;
    if (!IsDigits(Trim(f[0])) || Trim(f[0]).size() > kMaxDigits) {
      return bad("JobID", f[0], "is not a job number");
    }
    job.job_id = std::string(Trim(f[0]));
    job.display_id = std::string(Trim(f[1]));
    if (job.display_id.empty()) return bad("JobArrayID", f[1], "is empty");
    const std::string_view het = Trim(f[2]);
    if (het != "N/A" && !het.empty()) {
      if (!IsDigits(het) || het.size() > kMaxDigits)
        return bad("HetJobID", f[2], "is not a job number or N/A");
      job.het_job_id = std::string(het);
    }
    const std::string_view offset = Trim(f[3]);
    if (offset != "N/A" && !offset.empty()) {
      int64_t v = 0;
      if (!ParseWhole(offset, &v) || v > 1000000)
        return bad("HetJobOffset", f[3], "is not a whole number or N/A");
      job.het_offset = static_cast<int>(v);
    }
    job.state_text = std::string(Trim(f[4]));
    job.state = ParseJobState(job.state_text);
    if (!ParseWhole(Trim(f[5]), &job.node_count))
      return bad("NumNodes", f[5], "is not a whole number");
    job.nodelist = std::string(Trim(f[6]));
    auto nodes = ExpandHostlist(job.nodelist);
    if (!nodes) return bad("NodeList", f[6], nodes.error().message());
    job.nodes = std::move(*nodes);
    const std::string_view reason = Trim(f[7]);
    if (reason != "None") job.reason = std::string(reason);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<std::vector<SlurmStep>> ParseSqueueSteps(std::string_view text, std::string_view source) {
  constexpr size_t kFields = 5;
  std::vector<SlurmStep> steps;
  BERTH_ASSIGN_OR_RETURN(std::vector<Row> rows,
                         Rows(text, source, kFields, "STEPID",
                              "squeue -s -h -O '" + std::string(kSqueueStepsFormat) + "'"));
  for (const Row& row : rows) {
    const LineError bad(source, row.line_no);
    const std::vector<std::string_view>& f = row.fields;
    SlurmStep step;
    step.step_id = std::string(Trim(f[0]));
    const size_t dot = step.step_id.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == step.step_id.size()) {
      return bad("StepID", f[0], "is not JOB.STEP");
    }
    step.job_id = step.step_id.substr(0, dot);
    step.step = step.step_id.substr(dot + 1);
    step.state_text = std::string(Trim(f[1]));
    step.state = ParseJobState(step.state_text);
    step.nodelist = std::string(Trim(f[2]));
    auto nodes = ExpandHostlist(step.nodelist);
    if (!nodes) return bad("Nodes", f[2], nodes.error().message());
    step.nodes = std::move(*nodes);
    if (!ParseWhole(Trim(f[3]), &step.tasks)) return bad("NumTasks", f[3], "is not a whole number");
    step.name = std::string(f[4]);
    steps.push_back(std::move(step));
  }
  return steps;
}

Status ClientError(std::string_view command, int exit_code, std::string_view stderr_text) {
  std::string_view last;
  for (std::string_view line : Lines(stderr_text)) {
    if (!Trim(line).empty()) last = Trim(line);
  }
  std::string msg = std::string(command) + " failed (exit " + std::to_string(exit_code) + ")";
  if (!last.empty()) msg += ": " + std::string(last.substr(0, 300));
  auto has = [&](std::string_view needle) {
    return stderr_text.find(needle) != std::string_view::npos;
  };
  if (has("Invalid job id specified") || has("Invalid job step id") ||
      has("Invalid node name specified")) {
    return NotFound(msg);
  }
  if (exit_code == 124 || exit_code == 137) {
    return Unavailable(msg + (last.empty() ? "" : ";") +
                       " timed out: is slurmctld running and reachable?");
  }
  if (has("Unable to contact slurm controller") || has("Socket timed out") ||
      has("Connection refused") || has("Zero Bytes were transmitted") ||
      has("Slurm backup controller in standby mode")) {
    return Unavailable(msg);
  }
  if (has("Could not establish a configuration source") ||
      has("Unable to process configuration file")) {
    return BackendError(msg + " (is SLURM_CONF set to the cluster's slurm.conf?)");
  }
  return BackendError(msg);
}

}  // namespace berth::runtime::slurm
