// An output file for secrets (`cloudmeta export --output`): opened with mode 0600 in the open()
// call itself, so there is no moment at which another user can open it, as there was between a
// default-mode create and a chmod. An existing regular file is truncated and made 0600 before
// anything is written; a FIFO or device (e.g. /dev/stdout) is written as it is. Throws
// CommandError when it cannot be opened. Not thread-safe (one writer).
#pragma once

#include <ext/stdio_filebuf.h>

#include <ostream>
#include <string>

namespace cloudmeta::cli {

class PrivateFile {
 public:
  explicit PrivateFile(const std::string& path);
  PrivateFile(const PrivateFile&) = delete;
  PrivateFile& operator=(const PrivateFile&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  __gnu_cxx::stdio_filebuf<char> buffer_;  // owns the descriptor and closes it
  std::ostream stream_{&buffer_};
};

}  // namespace cloudmeta::cli
