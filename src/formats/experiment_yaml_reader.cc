// Reader's typed, bounded reading of YAML nodes (maps, strings, numbers) with line numbers.

#include "formats/experiment_yaml_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace berth::formats {

using YAML::NodeType;

std::string Preview(const Node& n) {
  switch (n.Type()) {
    case NodeType::Map:
      return n.size() == 0 ? "{}" : "{...}";
    case NodeType::Sequence:
      return n.size() == 0 ? "[]" : "[...]";
    case NodeType::Scalar:
      break;
    default:
      return "null";
  }
  constexpr size_t kMax = 60;
  const std::string& s = n.Scalar();
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

namespace {

bool IsPlain(const Node& n) { return n.Tag() == "?"; }

// YAML 1.2 core schema numbers, without .inf/.nan (not quantities).
bool LooksLikeInteger(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
}

bool LooksLikeNumber(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

std::string JoinKeys(std::initializer_list<std::string_view> keys) {
  std::string s;
  for (std::string_view k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

}  // namespace

Result<Reader::Entries> Reader::Map(const Node& n, const std::string& path,
                                    std::initializer_list<std::string_view> allowed,
                                    const std::string& expected) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsMap()) return TypeErr(n, path, expected);
  Mark(path, n);
  Entries out;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const Node key = it->first;
    if (!key.IsScalar()) return Err(key, path, "keys must be plain names, got " + Preview(key));
    const std::string& k = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Err(key, path, "unknown key " + Preview(key) + "; allowed: " + JoinKeys(allowed));
    }
    if (Get(out, k)) {
      return Err(key, path, "key " + Preview(key) + " appears more than once; give each key once");
    }
    out.emplace_back(k, it->second);
    Mark((path.empty() ? "" : path + ".") + k, it->second.IsNull() ? key : it->second);
  }
  return out;
}

Result<std::string> Reader::String(const Node& n, const std::string& path,
                                   const std::string& what) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (!n.IsScalar()) {
    return TypeErr(n, path, what + (n.IsNull() ? " (write \"\" for an empty string)" : ""));
  }
  Mark(path, n);
  return n.Scalar();
}

Result<Quantity> Reader::Number(const Node& n, const std::string& path) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  const bool plain = n.IsScalar() && (IsPlain(n) || n.Tag() == "tag:yaml.org,2002:int" ||
                                      n.Tag() == "tag:yaml.org,2002:float");
  if (!plain || !LooksLikeNumber(n.Scalar())) {
    return TypeErr(n, path, "a number >= 0, like 2 or 0.5");
  }
  Mark(path, n);
  const std::string& s = n.Scalar();
  errno = 0;
  const double d = std::strtod(s.c_str(), nullptr);
  if (s[0] == '-' && d != 0) {
    return Err(n, path, s + " is negative; give a number >= 0");
  }
  if (errno == ERANGE && d != 0) return Err(n, path, s + " is above the maximum 1e14");
  Result<Quantity> q = Quantity::FromDouble(d, path);
  if (!q) return InvalidSpec(Where(n.Mark()) + q.error().message());
  return q;
}

Result<int64_t> Reader::Integer(const Node& n, const std::string& path, int64_t lo, int64_t hi) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  const bool plain = n.IsScalar() && (IsPlain(n) || n.Tag() == "tag:yaml.org,2002:int");
  if (!plain || !LooksLikeInteger(n.Scalar())) {
    return TypeErr(n, path, "a whole number in " + range);
  }
  Mark(path, n);
  errno = 0;
  const int64_t v = std::strtoll(n.Scalar().c_str(), nullptr, 10);
  if (errno == ERANGE || v < lo || v > hi) {
    return Err(n, path, n.Scalar() + " is outside " + range);
  }
  return static_cast<int64_t>(v);
}

Result<bool> Reader::Bool(const Node& n, const std::string& path) {
  BERTH_RETURN_IF_ERROR(Tick(n, path));
  if (n.IsScalar() && IsPlain(n)) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return TypeErr(n, path, "true or false");
}

Result<double> Reader::Seconds(const Node& n, const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(Quantity q, Number(n, path));
  if (q.IsZero()) return Err(n, path, "must be above 0 seconds");
  return q.ToDouble();
}

Status Reader::Locate(const Status& s) const {
  const std::string& msg = s.message();
  std::string path = msg.substr(0, msg.find(": "));
  // The field itself, or the nearest enclosing one that is written down (a
  // defaulted field has no line of its own).
  while (!path.empty()) {
    auto it = marks_.find(path);
    if (it != marks_.end()) return {s.code(), Where(it->second) + msg};
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  return {s.code(), std::string(file_) + ": " + msg};
}

}  // namespace berth::formats
