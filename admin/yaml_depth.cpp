#include "yaml_depth.hpp"

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace cloudmeta::admin {

namespace {

// The parser announces a collection before it recurses into it: throwing there unwinds at once.
class DepthCounter : public YAML::EventHandler {
 public:
  explicit DepthCounter(std::size_t max_depth) : max_depth_(max_depth) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    enter(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    enter(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void enter(const YAML::Mark& mark) {
    if (++depth_ > max_depth_) {
      throw YAML::ParserException(
          mark, "nested deeper than " + std::to_string(max_depth_) + " levels");
    }
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
};

}  // namespace

void check_yaml_depth(const std::string& text, std::size_t max_depth) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DepthCounter counter(max_depth);
  parser.HandleNextDocument(counter);
}

}  // namespace cloudmeta::admin
