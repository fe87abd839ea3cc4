#include "roles/placeholders.h"

#include <string>

#include "roles/names.h"

namespace berth::roles {
namespace {

// A short, quoted rendering of an argv element for a message.
std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

const std::string* Lookup(const std::vector<std::pair<std::string, std::string>>& env,
                          std::string_view name) {
  for (const auto& [k, v] : env) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string Names(const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  for (const auto& kv : env) {
    if (!out.empty()) out += ", ";
    out += kv.first;
  }
  return out.empty() ? "(none)" : out;
}

// Walks `arg`, calling on_name for each placeholder and appending literal
// text to `out` (when not null). Stops at the first error.
template <typename OnName>
Status Walk(std::string_view arg, std::string* out, OnName on_name) {
  for (size_t i = 0; i < arg.size(); ++i) {
    const char c = arg[i];
    if (c == '}') {
      if (i + 1 < arg.size() && arg[i + 1] == '}') {
        if (out) *out += '}';
        ++i;
        continue;
      }
      return InvalidSpec("single '}' at offset " + std::to_string(i) + " of " + Quoted(arg) +
                         "; write '}}' for a literal brace");
    }
    if (c != '{') {
      if (out) *out += c;
      continue;
    }
    if (i + 1 < arg.size() && arg[i + 1] == '{') {
      if (out) *out += '{';
      ++i;
      continue;
    }
    const size_t close = arg.find('}', i + 1);
    if (close == std::string_view::npos) {
      return InvalidSpec("'{' at offset " + std::to_string(i) + " of " + Quoted(arg) +
                         " is not closed; write {NAME} for a placeholder or '{{' for a "
                         "literal brace");
    }
    const std::string_view name = arg.substr(i + 1, close - i - 1);
    if (!IsValidEnvName(name)) {
      std::string msg = "{";  // built piecewise: GCC 12 -Wrestrict false positive
      msg += name;
      return InvalidSpec(msg + "} in " + Quoted(arg) +
                         " is not a placeholder (a name like {BERTH_PORT_HTTP}); write '{{' "
                         "and '}}' for literal braces");
    }
    BERTH_RETURN_IF_ERROR(on_name(name));
    i = close;
  }
  return Status::Ok();
}

}  // namespace

Status CheckPlaceholders(std::string_view arg) {
  return Walk(arg, nullptr, [](std::string_view) { return Status::Ok(); });
}

Result<std::string> ExpandPlaceholders(
    std::string_view arg, const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  out.reserve(arg.size());
  Status s = Walk(arg, &out, [&](std::string_view name) {
    const std::string* value = Lookup(env, name);
    if (value == nullptr) {
      std::string msg = "unknown placeholder {";
      msg += name;
      return InvalidSpec(msg + "} in " + Quoted(arg) + "; available: " + Names(env) +
                         " (write '{{' for a literal brace)");
    }
    out += *value;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace berth::roles
