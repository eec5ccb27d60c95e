// Runs the command line in-process, as `cloudmeta ARGS...`, capturing what it prints.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cloudmeta/cli.hpp"

namespace cloudmeta::testing {

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

inline CliResult run_cli_captured(std::vector<std::string> args) {
  args.insert(args.begin(), "cloudmeta");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  const int code = cloudmeta::run_cli(static_cast<int>(args.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

}  // namespace cloudmeta::testing
