#include "cli/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli/cli_errors.hpp"

namespace cloudmeta::cli {

namespace {

int open_owner_only(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw CommandError("cannot create " + path + ": " + std::strerror(errno));
  // A file that existed keeps its mode through O_TRUNC: narrowed here, still empty.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077) != 0 &&
      ::fchmod(fd, 0600) != 0) {
    const int error = errno;
    ::close(fd);
    throw CommandError("cannot make " + path + " owner-only: " + std::strerror(error));
  }
  return fd;
}

}  // namespace

PrivateFile::PrivateFile(const std::string& path)
    : buffer_(open_owner_only(path), std::ios::out) {}

}  // namespace cloudmeta::cli
