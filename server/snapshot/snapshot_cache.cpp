#include "cloudmeta/snapshot_cache.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace cloudmeta {
namespace {

constexpr std::string_view kMagic = "CMSNAP\r\n";
constexpr std::string_view kEndMagic = "CMSNEND\n";
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kChecksumSize = crypto_generichash_BYTES;  // 32
// u32 secret length, u64 row count, i64 revision, end magic, checksum.
constexpr std::size_t kTrailerFixed = 4 + 8 + 8 + 8 + kChecksumSize;
constexpr std::size_t kBufferSize = std::size_t{1} << 20;

static_assert(sizeof(crypto_generichash_state) <= 384 && alignof(crypto_generichash_state) <= 64);

crypto_generichash_state* state_of(unsigned char* raw) {
  return reinterpret_cast<crypto_generichash_state*>(raw);
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

[[noreturn]] void fail_errno(const std::string& what) {
  throw SnapshotCacheError(what + ": " + std::strerror(errno));
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("cannot write " + path);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

SnapshotCacheWriter::SnapshotCacheWriter(std::filesystem::path path) : path_(std::move(path)) {
  std::string pattern = path_.string() + ".XXXXXX";
  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);  // mode 0600
  if (fd_ < 0) fail_errno("cannot create a temporary file next to " + path_.string());
  temporary_ = pattern;
  if (::fchmod(fd_, S_IRUSR | S_IWUSR) != 0) fail_errno("cannot chmod " + temporary_.string());
  crypto_generichash_init(state_of(hash_state_), nullptr, 0, kChecksumSize);
  buffer_.reserve(kBufferSize + 4096);
  buffer_.append(kMagic);
  put_u32(buffer_, kVersion);
  put_u32(buffer_, 0);
}

SnapshotCacheWriter::~SnapshotCacheWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temporary_.empty()) ::unlink(temporary_.c_str());
}

void SnapshotCacheWriter::flush() {
  crypto_generichash_update(state_of(hash_state_),
                            reinterpret_cast<const unsigned char*>(buffer_.data()),
                            buffer_.size());
  write_all(fd_, buffer_.data(), buffer_.size(), temporary_.string());
  buffer_.clear();
}

void SnapshotCacheWriter::add(const StoredInstance& row) {
  const std::string_view fields[] = {row.instance_id, row.ip, row.doc, row.created_at,
                                     row.updated_at};
  for (const auto field : fields) put_u32(buffer_, static_cast<std::uint32_t>(field.size()));
  for (const auto field : fields) buffer_.append(field);
  ++rows_;
  if (buffer_.size() >= kBufferSize) flush();
}

void SnapshotCacheWriter::commit(std::int64_t revision, std::string_view secret) {
  buffer_.append(secret);
  put_u32(buffer_, static_cast<std::uint32_t>(secret.size()));
  put_u64(buffer_, rows_);
  put_u64(buffer_, static_cast<std::uint64_t>(revision));
  buffer_.append(kEndMagic);
  flush();
  std::array<unsigned char, kChecksumSize> checksum{};
  crypto_generichash_final(state_of(hash_state_), checksum.data(), checksum.size());
  write_all(fd_, reinterpret_cast<const char*>(checksum.data()), checksum.size(),
            temporary_.string());
  if (::fsync(fd_) != 0) fail_errno("cannot fsync " + temporary_.string());
  ::close(fd_);
  fd_ = -1;
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    fail_errno("cannot rename " + temporary_.string() + " to " + path_.string());
  }
  committed_ = true;
  // The rename itself must survive a power cut: sync the directory entry too.
  const auto directory = path_.has_parent_path() ? path_.parent_path() : ".";
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

SnapshotCacheInfo parse_snapshot_cache(std::string_view bytes, const SnapshotCacheVisitor& visit,
                                       const SnapshotCacheAccepted& accepted) {
  if (bytes.size() < kHeaderSize + kTrailerFixed || bytes.substr(0, kMagic.size()) != kMagic) {
    throw SnapshotCacheError("not a snapshot cache file (or a truncated one)");
  }
  const auto version = static_cast<std::uint32_t>(get_le(bytes.data() + 8, 4));
  if (version != kVersion) {
    throw SnapshotCacheError("format version " + std::to_string(version) +
                             ", this binary reads " + std::to_string(kVersion));
  }
  const std::size_t hashed = bytes.size() - kChecksumSize;
  std::array<unsigned char, kChecksumSize> checksum{};
  crypto_generichash(checksum.data(), checksum.size(),
                     reinterpret_cast<const unsigned char*>(bytes.data()), hashed, nullptr, 0);
  if (std::memcmp(checksum.data(), bytes.data() + hashed, kChecksumSize) != 0) {
    throw SnapshotCacheError("checksum mismatch (torn or altered file)");
  }
  // The trailer, read backwards from the checksum.
  const char* end = bytes.data() + hashed;
  if (std::string_view(end - 8, 8) != kEndMagic) throw SnapshotCacheError("no trailer");
  SnapshotCacheInfo info;
  info.revision = static_cast<std::int64_t>(get_le(end - 16, 8));
  info.rows = get_le(end - 24, 8);
  const std::uint64_t secret_size = get_le(end - 28, 4);
  const std::size_t rows_end_limit = bytes.size() - kTrailerFixed;
  if (secret_size > rows_end_limit - kHeaderSize) throw SnapshotCacheError("bad secret length");
  const std::size_t rows_end = rows_end_limit - static_cast<std::size_t>(secret_size);
  info.secret.assign(bytes.data() + rows_end, static_cast<std::size_t>(secret_size));

  // Two passes: the structure first (lengths only, jumping over the bytes), so that `visit`
  // sees every row or none.
  const auto walk = [&](const std::function<void(const StoredInstance&)>* deliver) {
    std::size_t at = kHeaderSize;
    std::uint64_t seen = 0;
    while (at < rows_end) {
      if (seen == info.rows || rows_end - at < 20) {
        throw SnapshotCacheError("row " + std::to_string(seen) + " does not fit its trailer");
      }
      std::uint64_t lengths[5];
      std::uint64_t total = 0;
      for (int i = 0; i < 5; ++i) {
        lengths[i] = get_le(bytes.data() + at + 4 * i, 4);
        total += lengths[i];
      }
      at += 20;
      if (total > rows_end - at) throw SnapshotCacheError("row " + std::to_string(seen) + " torn");
      std::string_view fields[5];
      for (int i = 0; i < 5; ++i) {
        fields[i] = bytes.substr(at, static_cast<std::size_t>(lengths[i]));
        at += static_cast<std::size_t>(lengths[i]);
      }
      ++seen;
      if (deliver) {
        (*deliver)(StoredInstance{fields[0], fields[1], fields[2], fields[3], fields[4]});
      }
    }
    if (seen != info.rows) {
      throw SnapshotCacheError("holds " + std::to_string(seen) + " rows, its trailer says " +
                               std::to_string(info.rows));
    }
  };
  walk(nullptr);
  if (accepted) accepted(info);
  walk(&visit);
  return info;
}

std::optional<SnapshotCacheInfo> read_snapshot_cache(const std::filesystem::path& path,
                                                     const SnapshotCacheVisitor& visit,
                                                     const SnapshotCacheAccepted& accepted) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail_errno("cannot open " + path.string());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail_errno("cannot stat " + path.string());
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    throw SnapshotCacheError("empty file");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int map_error = errno;
  ::close(fd);
  if (mapped == MAP_FAILED) {
    errno = map_error;
    fail_errno("cannot map " + path.string());
  }
  struct Unmap {
    void* at;
    std::size_t size;
    ~Unmap() { ::munmap(at, size); }
  } unmap{mapped, size};
  return parse_snapshot_cache(std::string_view(static_cast<const char*>(mapped), size), visit,
                              accepted);
}

}  // namespace cloudmeta
