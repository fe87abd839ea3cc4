// Reads an experiment or role YAML document: size, UTF-8 and one-document checks, then its Reader.

#include "formats/experiment_yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "formats/experiment_yaml_reader.h"

namespace berth {
namespace formats {
namespace {

// Where a byte sequence stops being UTF-8 (YAML text must be Unicode), or npos.
size_t InvalidUtf8At(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Counts the documents of a YAML stream, stopping at two. yaml-cpp 0.7's
// LoadAll never returns on a document followed by stray text such as
// '"a",' (it yields empty documents forever), so berth counts with its own
// bounded loop and then loads the first document alone.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  YAML::Mark second = YAML::Mark::null_mark();  // where the second one starts

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {}
  void OnMapEnd() override {}
};

// The checks every document gets (size, UTF-8, one YAML document), then
// `read` on its root; yaml-cpp's exceptions end here.
template <typename T, typename ReadFn>
Result<T> ReadDocument(std::string_view text, std::string_view file, ReadFn read) {
  const std::string f(file);
  if (text.size() > kMaxExperimentBytes) {
    return InvalidSpec(f + ": is " + std::to_string(text.size()) +
                       " bytes; an experiment file "
                       "is at most " +
                       std::to_string(kMaxExperimentBytes >> 10) + " KiB");
  }
  const size_t bad = InvalidUtf8At(text);
  if (bad != std::string_view::npos) {
    const size_t line = 1 + std::count(text.begin(), text.begin() + bad, '\n');
    return InvalidSpec(f + ":" + std::to_string(line) + ": byte " + std::to_string(bad) +
                       " is not UTF-8; YAML files must be UTF-8 text");
  }
  Reader reader(file);
  try {
    const std::string owned(text);
    std::istringstream stream(owned);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents == 0) return InvalidSpec(f + ": is empty");
    if (counter.documents > 1) {
      const YAML::Mark& m = counter.second;
      const std::string at = m.is_null() ? f + ": "
                                         : f + ":" + std::to_string(m.line + 1) + ":" +
                                               std::to_string(m.column + 1) + ": ";
      return InvalidSpec(at +
                         "a second YAML document starts here (after ---, or text after "
                         "the end of the first); give one document");
    }
    return read(reader, YAML::Load(owned));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return InvalidSpec(f + ": malformed YAML: " + e.msg);
    return InvalidSpec(f + ":" + std::to_string(e.mark.line + 1) + ":" +
                       std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  } catch (const std::bad_alloc&) {
    return Internal(f + ": out of memory while reading");
  } catch (const std::exception& e) {
    return InvalidSpec(f + ": cannot read the YAML: " + e.what());
  }
}

}  // namespace

Result<ExperimentSpec> ParseExperimentYaml(std::string_view text, std::string_view file) {
  return ReadDocument<ExperimentSpec>(
      text, file, [](Reader& reader, const Node& root) -> Result<ExperimentSpec> {
        BERTH_ASSIGN_OR_RETURN(ExperimentSpec e, reader.Read(root));
        Status valid = ValidateExperiment(e);
        if (!valid.ok()) return reader.Locate(valid);
        return e;
      });
}

Result<RoleSpec> ParseRoleYaml(std::string_view text, std::string_view file) {
  return ReadDocument<RoleSpec>(
      text, file, [](Reader& reader, const Node& root) { return reader.ReadRole(root, "role"); });
}

Result<std::vector<CommGroupSpec>> ParseCommGroupsYaml(std::string_view text,
                                                       std::string_view file) {
  return ReadDocument<std::vector<CommGroupSpec>>(
      text, file, [](Reader& reader, const Node& root) { return reader.ReadCommGroups(root); });
}

}  // namespace formats

Result<ExperimentSpec> ParseExperiment(std::string_view yaml_text, std::string_view file) {
  return formats::ParseExperimentYaml(yaml_text, file);
}

}  // namespace berth
