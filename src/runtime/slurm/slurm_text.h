#pragma once
// Internals of the Slurm output parsers: lines, "|"-separated fields, trimmed text, whole numbers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "berth/status.h"
#include "common/text.h"

namespace berth::runtime::slurm {

// Whole numbers in Slurm's output are far below this; more digits are refused
// rather than risk an overflow.
inline constexpr size_t kMaxDigits = 15;

std::string_view Trim(std::string_view s);

bool IsDigits(std::string_view s);

// A whole number of at most kMaxDigits digits, nothing else.
bool ParseWhole(std::string_view s, int64_t* out);

std::string Join(const std::vector<std::string>& parts, std::string_view sep);

std::vector<std::string_view> Lines(std::string_view text);

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
                              std::string_view header, const std::string& command);

}  // namespace berth::runtime::slurm
