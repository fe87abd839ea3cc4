#pragma once
// Internals of reading the place JSON files: field paths, field errors, the streaming parse.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "berth/status.h"

namespace berth::formats {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Paths: where a value sits in the document, e.g. ops[3].bundles[1].GPU.
// Built as a chain of stack frames and turned into text only for an error, so
// that valid input pays no allocation per field.

class Path {
 public:
  static Path Root() { return {nullptr, {}, 0, false}; }
  // A child points at its parent, so a child of a temporary would dangle.
  Path Key(std::string_view key) const& { return {this, key, 0, false}; }
  Path Index(size_t index) const& { return {this, {}, index, true}; }
  Path Key(std::string_view key) const&& = delete;
  Path Index(size_t index) const&& = delete;

  std::string ToString() const {
    std::string s;
    Append(s);
    return s.empty() ? "top level" : s;
  }

 private:
  Path(const Path* parent, std::string_view key, size_t index, bool is_index)
      : parent_(parent), key_(key), index_(index), is_index_(is_index) {}

  static bool IsPlainKey(std::string_view k) {
    return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    });
  }

  void Append(std::string& s) const {
    if (parent_ == nullptr) return;
    parent_->Append(s);
    if (is_index_) {
      // Appended piece by piece: "[" + ... + "]" trips a GCC 12 -Wrestrict
      // false positive.
      s += '[';
      s += std::to_string(index_);
      s += ']';
    } else if (IsPlainKey(key_)) {
      if (!s.empty()) s += ".";
      s += key_;
    } else {
      // Keys with dots or spaces would make the path ambiguous; quote them.
      s += '[';
      s += Json(std::string(key_)).dump(-1, ' ', false, Json::error_handler_t::replace);
      s += ']';
    }
  }

  const Path* parent_;
  std::string_view key_;
  size_t index_;
  bool is_index_;
};

Status FieldError(std::string_view file, const Path& path, std::string_view what);

// Prefixes an error from a helper that already names the field.
Status InFile(std::string_view file, const Status& s);

// A short rendering of a value for an error message. Containers are elided:
// they can be huge (or deeply nested), and the path already says where.
std::string Preview(const Json& v);

Status TypeError(std::string_view file, const Path& path, std::string_view expected,
                 const Json& got);

// Rejects keys outside `allowed`: a misspelt optional key must not be
// silently ignored.
Status CheckKeys(const Json& obj, const Path& path, std::initializer_list<std::string_view> allowed,
                 std::string_view file);

// The value of a required key; `expected` says what it must be.
Result<const Json*> Require(const Json& obj, std::string_view key, const Path& path,
                            std::string_view expected, std::string_view file);

// Each element of the top-level array, {"ops": [element, ...]}, with its
// index. Returning an error stops the parse.
using ElementFn = std::function<Status(const Json& element, size_t index)>;

// Parses a document shaped {"<key>": [element, ...]}, handing each element
// to `on_element`. Returns the document without those elements, for the
// checks of its top level.
Result<Json> ParseText(std::string_view text, std::string_view file, std::string_view key,
                       ElementFn on_element);

// The top level of a document like {"nodes": [...]}, once parsed (and its
// array's elements handed over).
Status CheckTop(const Json& doc, std::string_view key, std::string_view file);

}  // namespace berth::formats
