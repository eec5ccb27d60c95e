#include "hypervisor/bounded_input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cloudmeta::hypervisor {
namespace {

constexpr std::size_t kTokenFileLimit = 4096;

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(const std::string& what, int error) {
  return what + ": " + std::strerror(error);
}

// Opens without following a FIFO's or device's blocking open (O_NONBLOCK is cleared again for
// the read) and checks that it is a regular file.
int open_regular(const std::string& path, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw InputError(errno_text("cannot open " + path, errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": not a regular file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_descriptor(int fd, std::size_t limit, const std::string& what) {
  std::string out;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputError(errno_text("cannot read " + what, errno));
    if (n == 0) return out;
    if (out.size() + static_cast<std::size_t>(n) > limit) {
      throw InputError(what + " is larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string read_bounded(std::istream& in, std::size_t limit, const std::string& what) {
  std::string out;
  char buffer[16384];
  while (in) {
    in.read(buffer, sizeof buffer);
    const auto n = static_cast<std::size_t>(in.gcount());
    if (out.size() + n > limit) {
      throw InputError(what + " is larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buffer, n);
  }
  if (in.bad()) throw InputError("cannot read " + what);
  return out;
}

std::string read_file_bounded(const std::string& path, std::size_t limit) {
  struct stat st {};
  const Descriptor fd(open_regular(path, st));
  return read_descriptor(fd.get(), limit, path);
}

std::string read_token_file(const std::string& path) {
  struct stat st {};
  const Descriptor fd(open_regular(path, st));
  if ((st.st_mode & 077) != 0) {
    throw InputError(path + ": the API token file must not be accessible by group or others "
                     "(chmod 600 " + path + ")");
  }
  const std::string text = read_descriptor(fd.get(), kTokenFileLimit, path);
  std::size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) throw InputError(path + ": no API token in it");
  std::size_t end = text.find_first_of("\r\n", begin);
  if (end == std::string::npos) end = text.size();
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return text.substr(begin, end - begin);
}

}  // namespace cloudmeta::hypervisor
