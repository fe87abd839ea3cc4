#include "formats/place_json.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace berth::formats {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Paths: where a value sits in the document, e.g. ops[3].bundles[1].GPU.
// Built as a chain of stack frames and turned into text only for an error, so
// that valid input pays no allocation per field.

class Path {
 public:
  static Path Root() { return Path(nullptr, {}, 0, false); }
  // A child points at its parent, so a child of a temporary would dangle.
  Path Key(std::string_view key) const& { return Path(this, key, 0, false); }
  Path Index(size_t index) const& { return Path(this, {}, index, true); }
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

Status FieldError(std::string_view file, const Path& path, std::string_view what) {
  return InvalidSpec(std::string(file) + ": " + path.ToString() + ": " + std::string(what));
}

// Prefixes an error from a helper that already names the field.
Status InFile(std::string_view file, const Status& s) {
  return Status(s.code(), std::string(file) + ": " + s.message());
}

// A short rendering of a value for an error message. Containers are elided:
// they can be huge (or deeply nested), and the path already says where.
std::string Preview(const Json& v) {
  constexpr size_t kMaxString = 60;
  switch (v.type()) {
    case Json::value_t::object:
      return v.empty() ? "{}" : "{...}";
    case Json::value_t::array:
      return v.empty() ? "[]" : "[...]";
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.size() <= kMaxString) {
        return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      // The replace handler turns a UTF-8 sequence cut in half into U+FFFD.
      std::string cut =
          Json(s.substr(0, kMaxString)).dump(-1, ' ', false, Json::error_handler_t::replace);
      return cut.insert(cut.size() - 1, "...");
    }
    default:
      return v.dump();
  }
}

Status TypeError(std::string_view file, const Path& path, std::string_view expected,
                 const Json& got) {
  return FieldError(file, path, "must be " + std::string(expected) + ", got " + Preview(got));
}

std::string Join(std::initializer_list<std::string_view> items) {
  std::string s;
  for (std::string_view i : items) {
    if (!s.empty()) s += ", ";
    s += i;
  }
  return s;
}

// Rejects keys outside `allowed`: a misspelt optional key must not be
// silently ignored.
Status CheckKeys(const Json& obj, const Path& path, std::initializer_list<std::string_view> allowed,
                 std::string_view file) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    return FieldError(file, path,
                      "unknown key " + Preview(Json(it.key())) + "; allowed: " + Join(allowed));
  }
  return Status::Ok();
}

// The value of a required key; `expected` says what it must be.
Result<const Json*> Require(const Json& obj, std::string_view key, const Path& path,
                            std::string_view expected, std::string_view file) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return FieldError(file, path.Key(key),
                      "required key is missing; must be " + std::string(expected));
  }
  return &*it;
}

Result<std::string> ReadName(const Json& v, const Path& path, std::string_view expected,
                             std::string_view file) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    return TypeError(file, path, expected, v);
  }
  return v.get<std::string>();
}

Result<Quantity> ReadQuantity(const Json& v, const Path& path, std::string_view file) {
  // The Quantity parsers get an empty field name first and the full path only
  // on error: building the path for every valid number costs an allocation.
  switch (v.type()) {
    case Json::value_t::number_unsigned:
      if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return FieldError(file, path, v.dump() + " is above the maximum 1e14");
      }
      [[fallthrough]];
    case Json::value_t::number_integer: {
      int64_t i = v.get<int64_t>();
      Result<Quantity> q = Quantity::FromInteger(i, "");
      if (q) return q;
      return InFile(file, Quantity::FromInteger(i, path.ToString()).error());
    }
    case Json::value_t::number_float: {
      double d = v.get<double>();
      // Say it here to quote the number as written, not as "%f" prints it.
      if (d < 0) return FieldError(file, path, v.dump() + " is negative; quantities must be >= 0");
      if (d > static_cast<double>(Quantity::kMaxUnits / Quantity::kScale)) {
        return FieldError(file, path, v.dump() + " is above the maximum 1e14");
      }
      Result<Quantity> q = Quantity::FromDouble(d, "");
      if (q) return q;
      return InFile(file, Quantity::FromDouble(d, path.ToString()).error());
    }
    default:
      return TypeError(file, path, "a number >= 0", v);
  }
}

enum class Holder { kNode, kBundle };

// {"CPU": 8, "GPU": 0.5}. GPU rules differ: a node has whole devices; a
// bundle asks for whole devices or a share of one.
Result<ResourceSet> ReadResources(const Json& v, const Path& path, Holder holder,
                                  std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, "an object of resource quantities, like {\"CPU\": 1}", v);
  }
  ResourceSet set;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& name = it.key();
    const Path at = path.Key(name);
    if (name.empty()) return FieldError(file, path, "resource name is empty");
    BERTH_ASSIGN_OR_RETURN(Quantity q, ReadQuantity(*it, at, file));
    if (name == kGpu && !q.IsWhole()) {
      if (holder == Holder::kNode) {
        return FieldError(file, at,
                          q.ToString() + " is not whole; a node has a whole number of GPU devices");
      }
      if (q >= Quantity::Whole(1)) {
        return FieldError(file, at,
                          q.ToString() +
                              " is not whole; ask below 1 for a share of one device, "
                              "or a whole number of devices");
      }
    }
    // The json object iterates in key order, which is ResourceSet's order, so
    // this appends.
    set.Set(name, q);
  }
  if (holder == Holder::kBundle && set.AllZero()) {
    return FieldError(file, path,
                      set.ToString() + " asks for nothing; give it at least one non-zero resource");
  }
  return set;
}

Result<NodeSpec> ReadNode(const Json& v, const Path& path, std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, "a node object with name, resources and optional labels", v);
  }
  BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"name", "resources", "labels"}, file));
  NodeSpec node;
  BERTH_ASSIGN_OR_RETURN(const Json* name, Require(v, "name", path, "a non-empty string", file));
  BERTH_ASSIGN_OR_RETURN(node.name, ReadName(*name, path.Key("name"), "a non-empty string", file));
  BERTH_ASSIGN_OR_RETURN(const Json* res,
                         Require(v, "resources", path, "an object like {\"CPU\": 8}", file));
  BERTH_ASSIGN_OR_RETURN(node.resources,
                         ReadResources(*res, path.Key("resources"), Holder::kNode, file));
  auto labels = v.find("labels");
  if (labels != v.end()) {
    const Path lpath = path.Key("labels");
    if (!labels->is_object()) return TypeError(file, lpath, "an object of strings", *labels);
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (!it->is_string()) return TypeError(file, lpath.Key(it.key()), "a string", *it);
      node.labels.emplace_hint(node.labels.end(), it.key(), it->get<std::string>());
    }
  }
  return node;
}

// ---------------------------------------------------------------------------
// Parsing text. nlohmann keeps the last of two equal keys in one object; we
// refuse them instead (a pasted "GPU" twice is a mistake, not an override).
// So the document is built by our own SAX handler, which sees each key as it
// is inserted. (nlohmann's parser callback could see the keys too, but it is
// quadratic: 50 s instead of 0.3 s on a 9 MB ops file.)

// "[json.exception.parse_error.101] parse error ..." -> "parse error ...".
std::string StripExceptionId(const std::string& what) {
  size_t bracket = what.rfind("] ", what.find(' '));
  return what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos
             ? what.substr(bracket + 2)
             : what;
}

// Each element of the top-level array, {"ops": [element, ...]}, with its
// index. Returning an error stops the parse.
using ElementFn = std::function<Status(const Json& element, size_t index)>;

class DomBuilder : public nlohmann::json_sax<Json> {
 public:
  // The elements of the array under `stream_key` in the root object go to
  // `on_element` as soon as each is complete, and are then dropped: a
  // 100,000-op file is never one document in memory (building and freeing
  // that took longer than the parsing).
  DomBuilder(std::string_view file, std::string_view stream_key, ElementFn on_element)
      : file_(file), stream_key_(stream_key), on_element_(std::move(on_element)) {}

  Json& root() { return root_; }
  // Set when parsing stopped.
  const Status& error() const { return error_; }

  bool null() override { return Scalar(nullptr); }
  bool boolean(bool v) override { return Scalar(v); }
  bool number_integer(number_integer_t v) override { return Scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar(v); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar(v); }
  bool string(string_t& v) override { return Scalar(std::move(v)); }
  bool binary(binary_t& v) override { return Scalar(Json::binary(std::move(v))); }
  bool start_object(std::size_t) override { return Open(Json::object()); }
  bool start_array(std::size_t) override { return Open(Json::array()); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t byte, const std::string&,
                   const nlohmann::detail::exception& e) override {
    // what() is "[json.exception.parse_error.101] parse error at line 3,
    // column 5: syntax error ..."; keep the position and the detail.
    const std::string what = e.what();
    const std::string f(file_);
    size_t at = what.find(" at line ");
    size_t colon = at == std::string::npos ? at : what.find(": ", at);
    if (colon != std::string::npos) {
      error_ = InvalidSpec(f + ":" + what.substr(at + 3, colon - at - 3) +
                           ": malformed JSON: " + what.substr(colon + 2));
    } else if (e.id == 406) {
      // out_of_range.406, a number like 1e400, has no position of its own.
      error_ = InvalidSpec(f + ": malformed JSON at byte " + std::to_string(byte) + ": " +
                           StripExceptionId(what));
    } else {
      error_ = InvalidSpec(f + ": malformed JSON: " + StripExceptionId(what));
    }
    return false;
  }

 private:
  // Adds v where the parser is: the root, the next array element, or the
  // value of the pending key. Null when the key is there already.
  template <typename V>
  Json* Insert(V&& v) {
    if (open_.empty()) {
      root_ = Json(std::forward<V>(v));
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.get_ref<Json::array_t&>().emplace_back(std::forward<V>(v));
      return &parent.get_ref<Json::array_t&>().back();
    }
    auto [it, inserted] =
        parent.get_ref<Json::object_t&>().emplace(std::move(key_), std::forward<V>(v));
    if (!inserted) {
      error_ =
          InvalidSpec(std::string(file_) + ": " + OpenPath() + ": key " + Preview(Json(it->first)) +
                      " appears more than once; give each key once");
      return nullptr;
    }
    return &it->second;
  }

  template <typename V>
  bool Scalar(V&& v) {
    return Insert(std::forward<V>(v)) != nullptr && ElementDone();
  }

  bool Open(Json&& container) {
    const bool streamed =
        container.is_array() && open_.size() == 1 && open_[0]->is_object() && key_ == stream_key_;
    Json* j = Insert(std::move(container));
    if (j == nullptr) return false;
    if (streamed) stream_ = j;
    open_.push_back(j);
    return true;
  }

  bool Close() {
    open_.pop_back();
    return ElementDone();
  }

  // Hands over a just completed element of the streamed array.
  bool ElementDone() {
    if (open_.empty() || open_.back() != stream_) return true;
    Json::array_t& elements = stream_->get_ref<Json::array_t&>();
    Status s = on_element_(elements.back(), streamed_++);
    elements.pop_back();
    if (!s.ok()) error_ = std::move(s);
    return error_.ok();
  }

  // The path of the innermost open container, e.g. ops[3].bundles[1]. Only
  // for an error, so it may search: an open container is its array
  // parent's last element, or some value of its object parent.
  std::string OpenPath() const {
    // A Path points at its parent, so `chain` must not reallocate: reserve.
    std::vector<Path> chain;
    chain.reserve(open_.size());
    chain.push_back(Path::Root());
    for (size_t i = 1; i < open_.size(); ++i) {
      const Json& parent = *open_[i - 1];
      if (parent.is_array()) {
        // A streamed array holds only the element being read.
        size_t index = &parent == stream_ ? streamed_ : parent.size() - 1;
        chain.push_back(chain.back().Index(index));
        continue;
      }
      for (const auto& [k, v] : parent.get_ref<const Json::object_t&>()) {
        if (&v == open_[i]) chain.push_back(chain.back().Key(k));
      }
    }
    return chain.back().ToString();
  }

  std::string_view file_;
  std::string_view stream_key_;
  ElementFn on_element_;
  Json root_;
  std::vector<Json*> open_;  // containers being filled, outermost first
  std::string key_;          // the key of the next object member
  Json* stream_ = nullptr;   // the streamed array, once open
  size_t streamed_ = 0;      // its elements handed over so far
  Status error_;
};

// Parses a document shaped {"<key>": [element, ...]}, handing each element
// to `on_element`. Returns the document without those elements, for the
// checks of its top level.
Result<Json> ParseText(std::string_view text, std::string_view file, std::string_view key,
                       ElementFn on_element) {
  DomBuilder dom(file, key, std::move(on_element));
  try {
    if (Json::sax_parse(text.begin(), text.end(), &dom)) return std::move(dom.root());
  } catch (const Json::exception& e) {
    // sax_parse reports through parse_error(); this is a safety net.
    return InvalidSpec(std::string(file) + ": malformed JSON: " + StripExceptionId(e.what()));
  }
  if (dom.error().ok()) return InvalidSpec(std::string(file) + ": malformed JSON");
  return dom.error();
}

// The top level of a document like {"nodes": [...]}, once parsed (and its
// array's elements handed over).
Status CheckTop(const Json& doc, std::string_view key, std::string_view file) {
  const Path root = Path::Root();
  if (!doc.is_object()) {
    return TypeError(file, root, "an object like {\"" + std::string(key) + "\": [...]}", doc);
  }
  BERTH_RETURN_IF_ERROR(CheckKeys(doc, root, {key}, file));
  BERTH_ASSIGN_OR_RETURN(const Json* arr, Require(doc, key, root, "an array", file));
  if (!arr->is_array()) return TypeError(file, root.Key(key), "an array", *arr);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Ops.

constexpr const char* kOpNames = "create, remove, remove_node, add_node";
constexpr const char* kStrategies = "one of PACK, SPREAD, STRICT_PACK, STRICT_SPREAD";

Result<Op> ReadOp(const Json& v, const Path& path, std::string_view file) {
  if (!v.is_object()) {
    return TypeError(file, path, "an op object like {\"op\": \"create\", ...}", v);
  }
  const std::string op_expected = std::string("one of ") + kOpNames;
  BERTH_ASSIGN_OR_RETURN(const Json* kind, Require(v, "op", path, op_expected, file));
  const Path kpath = path.Key("op");
  if (!kind->is_string()) return TypeError(file, kpath, op_expected, *kind);
  const std::string& k = kind->get_ref<const std::string&>();
  Op op;
  if (k == "create") {
    op.kind = Op::Kind::kCreate;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "group", "strategy", "bundles"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* group, Require(v, "group", path, "a group name", file));
    BERTH_ASSIGN_OR_RETURN(op.group.name,
                           ReadName(*group, path.Key("group"), "a non-empty group name", file));
    BERTH_ASSIGN_OR_RETURN(const Json* strategy, Require(v, "strategy", path, kStrategies, file));
    const Path spath = path.Key("strategy");
    if (!strategy->is_string()) return TypeError(file, spath, kStrategies, *strategy);
    const std::string& s = strategy->get_ref<const std::string&>();
    Result<Strategy> parsed = ParseStrategy(s, "");
    if (!parsed) return InFile(file, ParseStrategy(s, spath.ToString()).error());
    op.group.strategy = *parsed;
    BERTH_ASSIGN_OR_RETURN(const Json* bundles,
                           Require(v, "bundles", path, "a non-empty array of bundles", file));
    const Path bpath = path.Key("bundles");
    if (!bundles->is_array() || bundles->empty()) {
      return TypeError(file, bpath, "a non-empty array of bundles, like [{\"GPU\": 1}]", *bundles);
    }
    op.group.bundles.reserve(bundles->size());
    for (size_t b = 0; b < bundles->size(); ++b) {
      BERTH_ASSIGN_OR_RETURN(ResourceSet r,
                             ReadResources((*bundles)[b], bpath.Index(b), Holder::kBundle, file));
      op.group.bundles.push_back(std::move(r));
    }
  } else if (k == "remove") {
    op.kind = Op::Kind::kRemove;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "group"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* group, Require(v, "group", path, "a group name", file));
    BERTH_ASSIGN_OR_RETURN(op.name,
                           ReadName(*group, path.Key("group"), "a non-empty group name", file));
  } else if (k == "remove_node") {
    op.kind = Op::Kind::kRemoveNode;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "node"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* node, Require(v, "node", path, "a node name", file));
    BERTH_ASSIGN_OR_RETURN(op.name,
                           ReadName(*node, path.Key("node"), "a non-empty node name", file));
  } else if (k == "add_node") {
    op.kind = Op::Kind::kAddNode;
    BERTH_RETURN_IF_ERROR(CheckKeys(v, path, {"op", "node"}, file));
    BERTH_ASSIGN_OR_RETURN(const Json* node,
                           Require(v, "node", path, "a node object with name and resources", file));
    BERTH_ASSIGN_OR_RETURN(op.node, ReadNode(*node, path.Key("node"), file));
  } else {
    return FieldError(file, kpath, "unknown op " + Preview(*kind) + "; allowed: " + kOpNames);
  }
  return op;
}

Status OpError(std::string_view file, size_t i, const Status& s) {
  return Status(s.code(), std::string(file) + ": ops[" + std::to_string(i) + "]: " + s.message());
}

// ---------------------------------------------------------------------------
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
      out_ += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
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

void WriteResources(JsonWriter& w, const ResourceSet& r) {
  w.BeginObject(Layout::kInline);
  for (const auto& [name, q] : r.items()) {
    w.Key(name);
    w.Number(q);
  }
  w.EndObject();
}

void WritePlacements(JsonWriter& w, const std::vector<BundlePlacement>& placed) {
  w.BeginArray(Layout::kLines);
  for (const BundlePlacement& p : placed) {
    w.BeginObject(Layout::kInline);
    w.Key("index");
    w.Int(p.index);
    w.Key("node");
    w.String(p.node);
    w.Key("gpus");
    w.BeginArray(Layout::kInline);
    for (const GpuShare& s : p.gpus) {
      w.BeginObject(Layout::kInline);
      w.Key("id");
      w.Int(s.device);
      w.Key("fraction");
      w.Number(s.fraction);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void WriteExplanation(JsonWriter& w, const Explanation& e) {
  w.BeginObject(Layout::kLines);
  w.Key("fits_now");
  w.Int(e.fits_now);
  w.Key("full_now");
  w.Int(e.full_now);
  w.Key("never_fits");
  w.Int(e.never_fits);
  w.Key("nodes");
  w.BeginArray(Layout::kLines);
  const size_t shown = std::min(e.nodes.size(), kMaxExplainedNodes);
  for (size_t i = 0; i < shown; ++i) {
    const NodeExplanation& n = e.nodes[i];
    w.BeginObject(Layout::kInline);
    w.Key("node");
    w.String(n.node);
    w.Key("verdict");
    w.String(NodeVerdictName(n.verdict));
    // The shortfall is only meaningful where the node cannot take the group.
    if (n.verdict == NodeVerdict::kFullNow || n.verdict == NodeVerdict::kNeverFits) {
      w.Key("bundle");
      w.Int(n.bundle);
      w.Key("resource");
      w.String(n.resource);
      w.Key("need");
      w.Number(n.need);
      w.Key("have");
      w.Number(n.have);
    }
    w.EndObject();
  }
  w.EndArray();
  if (e.nodes.size() > shown) {
    w.Key("nodes_omitted");
    w.Int(static_cast<int64_t>(e.nodes.size() - shown));
  }
  w.EndObject();
}

void WriteGroup(JsonWriter& w, const PlacementEngine& engine, const GroupView& g) {
  w.BeginObject(Layout::kLines);
  w.Key("group");
  w.String(g.name);
  w.Key("strategy");
  w.String(StrategyName(g.strategy));
  w.Key("state");
  w.String(GroupStateName(g.state));
  const bool created = g.state == GroupState::kCreated;
  w.Key("bundles");
  WritePlacements(w, created ? g.placed : std::vector<BundlePlacement>());
  if (g.state == GroupState::kRescheduling) {
    w.Key("held");
    WritePlacements(w, g.placed);
  }
  std::optional<Explanation> e;
  if (!created && g.state != GroupState::kRemoved) e = engine.Explain(g.name);
  w.Key("reason");
  w.String(e ? e->reason : std::string());
  w.Key("explain");
  if (e) {
    WriteExplanation(w, *e);
  } else {
    w.EmptyObject();
  }
  w.EndObject();
}

void WriteNode(JsonWriter& w, const NodeView& n) {
  w.BeginObject(Layout::kLines);
  w.Key("name");
  w.String(n.name);
  w.Key("available");
  WriteResources(w, n.available);
  w.Key("gpus");
  w.BeginArray(Layout::kLines);
  for (const DeviceView& d : n.gpus) {
    w.BeginObject(Layout::kInline);
    w.Key("id");
    w.Int(d.id);
    w.Key("free");
    w.Number(d.free);
    w.EndObject();
  }
  w.EndArray();
  if (!n.labels.empty()) {
    w.Key("labels");
    w.BeginObject(Layout::kInline);
    for (const auto& [k, v] : n.labels) {
      w.Key(k);
      w.String(v);
    }
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

Result<std::vector<NodeSpec>> ParseCluster(std::string_view text, std::string_view file) {
  const Path root = Path::Root();
  const Path npath = root.Key("nodes");
  std::vector<NodeSpec> out;
  std::unordered_map<std::string, size_t> seen;  // name -> index
  auto on_node = [&](const Json& element, size_t i) -> Status {
    const Path at = npath.Index(i);
    BERTH_ASSIGN_OR_RETURN(NodeSpec node, ReadNode(element, at, file));
    auto [it, inserted] = seen.emplace(node.name, i);
    if (!inserted) {
      return FieldError(file, at.Key("name"),
                        Preview(Json(node.name)) + " is also the name of nodes[" +
                            std::to_string(it->second) + "]; node names must be unique");
    }
    out.push_back(std::move(node));
    return Status::Ok();
  };
  BERTH_ASSIGN_OR_RETURN(Json doc, ParseText(text, file, "nodes", on_node));
  BERTH_RETURN_IF_ERROR(CheckTop(doc, "nodes", file));
  return out;
}

Status AddNodes(PlacementEngine& engine, const std::vector<NodeSpec>& nodes,
                std::string_view file) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    Status s = engine.AddNode(nodes[i]);
    if (!s.ok()) {
      return Status(s.code(),
                    std::string(file) + ": nodes[" + std::to_string(i) + "]: " + s.message());
    }
  }
  return Status::Ok();
}

Result<std::vector<Op>> ParseOps(std::string_view text, std::string_view file) {
  const Path root = Path::Root();
  const Path opath = root.Key("ops");
  std::vector<Op> out;
  auto on_op = [&](const Json& element, size_t i) -> Status {
    BERTH_ASSIGN_OR_RETURN(Op op, ReadOp(element, opath.Index(i), file));
    out.push_back(std::move(op));
    return Status::Ok();
  };
  BERTH_ASSIGN_OR_RETURN(Json doc, ParseText(text, file, "ops", on_op));
  BERTH_RETURN_IF_ERROR(CheckTop(doc, "ops", file));
  return out;
}

Status ApplyOps(PlacementEngine& engine, const std::vector<Op>& ops, std::string_view file) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::Kind::kCreate: {
        Result<GroupState> r = engine.CreateGroup(op.group);
        if (r) break;
        // The engine keeps removed groups (they are reported), so their names
        // stay taken; say so, or "already exists" reads as a contradiction.
        std::optional<GroupView> old = engine.Group(op.group.name);
        if (old && old->state == GroupState::kRemoved) {
          return OpError(
              file, i,
              Status(r.error().code(), r.error().message() +
                                           " (it was removed by an earlier op, and the name of "
                                           "a removed group cannot be used again)"));
        }
        return OpError(file, i, r.error());
      }
      case Op::Kind::kRemove: {
        Status s = engine.RemoveGroup(op.name);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
      case Op::Kind::kRemoveNode: {
        Status s = engine.RemoveNode(op.name);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
      case Op::Kind::kAddNode: {
        Status s = engine.AddNode(op.node);
        if (!s.ok()) return OpError(file, i, s);
        break;
      }
    }
  }
  return Status::Ok();
}

std::string RenderState(const PlacementEngine& engine, JsonStyle style) {
  std::string out;
  JsonWriter w(out, style == JsonStyle::kPretty);
  w.BeginObject(Layout::kLines);
  w.Key("groups");
  w.BeginArray(Layout::kLines);
  for (const GroupView& g : engine.Groups()) WriteGroup(w, engine, g);
  w.EndArray();
  w.Key("nodes");
  w.BeginArray(Layout::kLines);
  for (const NodeView& n : engine.Nodes()) WriteNode(w, n);
  w.EndArray();
  w.EndObject();
  out += '\n';
  return out;
}

}  // namespace berth::formats
