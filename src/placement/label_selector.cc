// Label selectors (see the header).

#include "placement/label_selector.h"

#include <algorithm>

#include "common/text.h"

namespace berth::placement {
namespace {

constexpr std::string_view kForms = R"x(one of "v", "!v", "in(a,b)", "!in(a,b)")x";

// Label keys and values: what Kubernetes and Ray allow, loosely (letters,
// digits, '-', '_', '.', '/'), so that the syntax characters stay syntax.
bool Plain(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '/';
  });
}

}  // namespace

Result<std::vector<LabelTerm>> ParseLabelSelector(const Labels& selector, std::string_view field) {
  std::vector<LabelTerm> terms;
  for (const auto& entry : selector) {
    // Named, not bound: a lambda below uses them (clang 14 cannot capture
    // structured bindings).
    const std::string& key = entry.first;
    const std::string& expr = entry.second;
    const std::string at = std::string(field) + "." + key;
    auto bad = [&](const std::string& why) {
      return InvalidSpec(at + ": " + common::Quote(expr) + " " + why + "; write " +
                         std::string(kForms));
    };
    if (!Plain(key)) {
      return InvalidSpec(std::string(field) + ": label key " + common::Quote(key) +
                         " is not a label key; use letters, digits, '-', '_', '.' and '/'");
    }
    LabelTerm t;
    t.key = key;
    std::string_view rest = expr;
    if (!rest.empty() && rest.front() == '!') {
      t.negated = true;
      rest.remove_prefix(1);
    }
    if (rest.starts_with("in(")) {
      if (!rest.ends_with(")")) return bad("has no closing parenthesis");
      std::string_view list = rest.substr(3, rest.size() - 4);
      while (true) {
        const size_t comma = list.find(',');
        std::string_view v = list.substr(0, comma);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        if (!Plain(v)) return bad("has an empty or malformed value in its list");
        t.values.emplace_back(v);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    } else {
      if (!Plain(rest)) return bad("is not a label value");
      t.values.emplace_back(rest);
    }
    terms.push_back(std::move(t));
  }
  return terms;
}

const LabelTerm* FirstFailingTerm(const std::vector<LabelTerm>& terms, const Labels& labels) {
  for (const LabelTerm& t : terms) {
    auto it = labels.find(t.key);
    const bool listed = it != labels.end() &&
                        std::find(t.values.begin(), t.values.end(), it->second) != t.values.end();
    if (listed == t.negated) return &t;
  }
  return nullptr;
}

bool LabelsMatch(const std::vector<LabelTerm>& terms, const Labels& labels) {
  return FirstFailingTerm(terms, labels) == nullptr;
}

std::string DescribeTerm(const LabelTerm& term) {
  std::string out = term.key + ": " + (term.negated ? "!" : "");
  if (term.values.size() == 1 && !term.values[0].empty()) return out + term.values[0];
  out += "in(";
  for (size_t i = 0; i < term.values.size(); ++i) out += (i > 0 ? "," : "") + term.values[i];
  return out + ")";
}

}  // namespace berth::placement
