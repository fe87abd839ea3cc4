// Parses place JSON text: a SAX handler that refuses duplicate keys and streams the top array.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "formats/place_json_read.h"

namespace berth::formats {
namespace {

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
  bool number_float(number_float_t v, const string_t& /*s*/) override { return Scalar(v); }
  bool string(string_t& v) override { return Scalar(std::move(v)); }
  bool binary(binary_t& v) override { return Scalar(Json::binary(std::move(v))); }
  bool start_object(std::size_t /*elements*/) override { return Open(Json::object()); }
  bool start_array(std::size_t /*elements*/) override { return Open(Json::array()); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t byte, const std::string& /*last_token*/,
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
    auto& elements = stream_->get_ref<Json::array_t&>();
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

}  // namespace

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

}  // namespace berth::formats
