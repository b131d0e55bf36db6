#include "core/yaml_load.h"

#include <cctype>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace chaos {

namespace {

// Records where each document starts and whether it holds anything: enough to see that the
// parser is stuck (two documents in a row starting at the same byte, the second empty) and to
// find a second document, without building nodes.
class DocumentScan : public YAML::EventHandler {
 public:
  struct Doc {
    YAML::Mark start;
    bool content = false;
    YAML::Mark first;  // where its content starts (its root node)
  };
  std::vector<Doc> docs;

  void OnDocumentStart(const YAML::Mark& mark) override { docs.push_back({mark, false, mark}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { content(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { content(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(m);
  }
  void OnMapEnd() override {}

 private:
  void content(const YAML::Mark& m) {
    if (docs.empty() || docs.back().content) return;
    docs.back().content = true;
    docs.back().first = m;
  }
};

}  // namespace

YamlDocuments load_yaml_documents(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentScan scan;
  while (parser.HandleNextDocument(scan)) {
    const auto n = scan.docs.size();
    if (n >= 2 && scan.docs[n - 1].start.pos == scan.docs[n - 2].start.pos && !scan.docs[n - 1].content) {
      const auto& m = scan.docs[n - 1].start;
      std::string what = "unexpected character";
      if (m.pos >= 0 && static_cast<std::size_t>(m.pos) < text.size() &&
          std::isprint(static_cast<unsigned char>(text[static_cast<std::size_t>(m.pos)])))
        what = std::string("unexpected '") + text[static_cast<std::size_t>(m.pos)] + "'";
      throw YAML::ParserException(m, what);
    }
  }
  YamlDocuments out;
  for (std::size_t i = 1; i < scan.docs.size(); ++i)
    if (scan.docs[i].content) {
      out.second = scan.docs[i].first;
      break;
    }
  // The whole stream parsed: the first document again, as nodes (YAML::Load reads only it).
  if (!scan.docs.empty()) out.first = YAML::Load(text);
  return out;
}

}  // namespace chaos
