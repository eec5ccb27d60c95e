// A nesting limit for the YAML the cloud-config check parses. yaml-cpp's parser recurses once per
// level (its own guard stops only at 2000 levels, each several frames deep), and 16 KiB of user-data
// holds 16,384 flow openers or thousands of indented block levels. This walks the document as
// parser events and stops at the first collection deeper than `max_depth`, so the parser's
// recursion never goes further than that. Thread-safe (state is per call).
#pragma once

#include <cstddef>
#include <string>

namespace cloudmeta::admin {

// cloud-config nests a few levels (write_files: - content:); 64 is far beyond any module's need.
inline constexpr std::size_t kMaxYamlDepth = 64;

// Parses the first document of `text` as events. Throws YAML::ParserException: the parser's own
// for malformed YAML, or "nested deeper than N levels" with the mark of the collection that
// goes deeper.
void check_yaml_depth(const std::string& text, std::size_t max_depth);

}  // namespace cloudmeta::admin
