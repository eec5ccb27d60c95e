// The two ways a subcommand fails; cli.cpp turns each into one line on stderr and an exit code.
#pragma once

#include <stdexcept>

namespace cloudmeta::cli {

// A bad value or missing input the user can fix by changing the command line: exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command was understood but cannot be done (duplicate user, unknown token): exit 1.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cloudmeta::cli
