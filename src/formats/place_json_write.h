#pragma once
// JsonWriter: writes the JSON result document of `berth place` (and its explanations).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "berth/placement.h"

namespace berth::formats {

// Output. Written straight from the engine's views, without building a json
// document first: that took most of the time of a 100,000-op run. The layout
// follows the schema rather than a width: each record a person scans (a
// bundle, a device, one node of an explanation) is one line.

enum class Layout { kLines, kInline };

class JsonWriter {
 public:
  JsonWriter(std::string& out, bool pretty) : out_(out), pretty_(pretty) {}

  // A kLines container puts each member on its own line (when pretty);
  // everything inside a kInline container is inline.
  void BeginObject(Layout layout) { Open('{', layout); }
  void EndObject() { Close('}'); }
  void BeginArray(Layout layout) { Open('[', layout); }
  void EndArray() { Close(']'); }

  void Key(std::string_view key) {
    Separate();
    Quote(key);
    out_ += pretty_ ? ": " : ":";
    after_key_ = true;
  }
  void String(std::string_view s) {
    BeforeValue();
    Quote(s);
  }
  void Int(int64_t v) {
    BeforeValue();
    out_ += std::to_string(v);
  }
  // An integer when whole, else the exact decimal ("0.5", "0.3333"): the
  // same number as units / 1e4, without a detour through double.
  void Number(Quantity q) {
    BeforeValue();
    out_ += q.ToString();
  }
  void Bool(bool v) {
    BeforeValue();
    out_ += v ? "true" : "false";
  }
  void EmptyObject() {
    BeforeValue();
    out_ += "{}";
  }

 private:
  struct Level {
    bool lines;
    bool empty;
  };

  void BeforeValue() {
    if (after_key_) {
      after_key_ = false;
    } else {
      Separate();
    }
  }

  void Separate() {
    if (levels_.empty()) return;
    Level& level = levels_.back();
    if (!level.empty) out_ += ',';
    if (level.lines && pretty_) {
      NewLine(levels_.size());
    } else if (!level.empty && pretty_) {
      out_ += ' ';
    }
    level.empty = false;
  }

  void Open(char bracket, Layout layout) {
    BeforeValue();
    out_ += bracket;
    const bool inside_lines = levels_.empty() || levels_.back().lines;
    levels_.push_back({layout == Layout::kLines && inside_lines, true});
  }

  void Close(char bracket) {
    const Level level = levels_.back();
    levels_.pop_back();
    if (level.lines && !level.empty && pretty_) NewLine(levels_.size());
    out_ += bracket;
  }

  void NewLine(size_t depth) {
    out_ += '\n';
    out_.append(2 * depth, ' ');
  }

  void Quote(std::string_view s) {
    // Names come from parsed JSON and are valid UTF-8, but the engine's API
    // takes any bytes: let nlohmann check and repair non-ASCII text.
    if (std::any_of(s.begin(), s.end(),
                    [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
      out_ += nlohmann::json(std::string(s))
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out_ += buf;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string& out_;
  const bool pretty_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

// A group's explanation: why it is not placed, node by node.
void WriteExplanation(JsonWriter& w, const Explanation& e);

}  // namespace berth::formats
