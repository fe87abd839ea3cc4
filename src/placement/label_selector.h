#pragma once
// Label selectors on bundles, in Ray's syntax (bundle_label_selector): a map
// from label key to one of "v", "!v", "in(a,b)", "!in(a,b)". Every term must
// hold; a node without the key matches only the negative forms.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "berth/status.h"

namespace berth::placement {

using Labels = std::map<std::string, std::string>;

struct LabelTerm {
  std::string key;
  bool negated = false;             // "!v", "!in(...)"
  std::vector<std::string> values;  // one for "v" and "!v"
  bool operator==(const LabelTerm&) const = default;
};

// Parses a selector; errors (kInvalidSpec) name `field`, the key, the value
// and the forms allowed.
Result<std::vector<LabelTerm>> ParseLabelSelector(const Labels& selector, std::string_view field);

bool LabelsMatch(const std::vector<LabelTerm>& terms, const Labels& labels);

// The first term `labels` fails, or nullptr.
const LabelTerm* FirstFailingTerm(const std::vector<LabelTerm>& terms, const Labels& labels);

// A term as written: "rack: !in(a,b)".
std::string DescribeTerm(const LabelTerm& term);

}  // namespace berth::placement
