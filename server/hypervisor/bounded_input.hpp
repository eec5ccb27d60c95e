// The hook's inputs, each read with its size limit enforced while reading (nothing past the
// limit is buffered): the domain XML on standard input, a user-data file, and the API token
// file, which must be the owner's alone (as ssh refuses a private key others can read).
// Throws InputError naming the input. Thread-safe (no shared state). Private to
// server/hypervisor/.
#pragma once

#include <cstddef>
#include <istream>
#include <stdexcept>
#include <string>

namespace cloudmeta::hypervisor {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// All of `in`, at most `limit` bytes; more is an InputError naming `what` and the limit.
std::string read_bounded(std::istream& in, std::size_t limit, const std::string& what);

// A regular file's bytes, at most `limit`.
std::string read_file_bounded(const std::string& path, std::size_t limit);

// The API token: the first line of `path`, white space around it removed. Refused unless it is
// a regular file that neither its group nor others may read or write (mode & 077 == 0), not
// empty, at most 4 KiB.
std::string read_token_file(const std::string& path);

}  // namespace cloudmeta::hypervisor
