// The snapshot cache: the rows of the last snapshot loaded from the store, kept in a local file
// (SNAPSHOT_CACHE) so that `serve`, started while the database does not answer, still serves
// every VM it served before (docs/architecture.md, "Fleet mode"). Fleet rewrites it after each
// reload; app.cpp reads it at start only when the store cannot be reached.
//
// The file holds IAM secrets (the rows' documents) and possibly the generated SECRET_KEY: it is
// created mode 0600 whatever the umask. It is replaced atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory), so a crash leaves the old file or the new
// one. A file that is torn, altered, or of another format version is refused whole (its checksum
// or structure does not match), never half-read.
//
// Format, version 1 (integers little-endian):
//   header   "CMSNAP\r\n", u32 version = 1, u32 0
//   rows     per row: u32 length of instance_id, ip, doc, created_at, updated_at, then the five
//            byte strings
//   trailer  secret bytes, u32 secret length, u64 row count, i64 revision, "CMSNEND\n"
//   checksum BLAKE2b-256 (libsodium's crypto_generichash) of every byte before it
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cloudmeta/store.hpp"

namespace cloudmeta {

class SnapshotCacheError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One cache file being written: rows as a reload scans them, then commit(). Not thread-safe.
class SnapshotCacheWriter {
 public:
  // Creates the temporary file next to `path`. Throws SnapshotCacheError (with errno's text).
  explicit SnapshotCacheWriter(std::filesystem::path path);
  // Removes the temporary file unless commit() succeeded.
  ~SnapshotCacheWriter();
  SnapshotCacheWriter(const SnapshotCacheWriter&) = delete;
  SnapshotCacheWriter& operator=(const SnapshotCacheWriter&) = delete;

  void add(const StoredInstance& row);
  // secret: the SECRET_KEY to serve tokens with when the database is away ("" when it is
  // configured, so it stays out of the file). Writes the trailer and checksum, fsyncs, and
  // replaces `path`. Throws SnapshotCacheError.
  void commit(std::int64_t revision, std::string_view secret);

  std::uint64_t rows() const { return rows_; }

 private:
  void flush();

  std::filesystem::path path_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  std::string buffer_;
  std::uint64_t rows_ = 0;
  bool committed_ = false;
  alignas(64) unsigned char hash_state_[384];  // crypto_generichash_state, kept opaque here
};

struct SnapshotCacheInfo {
  std::int64_t revision = 0;
  std::string secret;
  std::uint64_t rows = 0;
};

using SnapshotCacheVisitor = std::function<void(const StoredInstance&)>;
// Called once the file is accepted, before its first row (e.g. to size an index for info.rows).
using SnapshotCacheAccepted = std::function<void(const SnapshotCacheInfo&)>;

// Checks a whole file's bytes (format, version, checksum, structure) and only then hands each row
// to `visit`, in file order (all of them or none); the row's views point into `bytes`. Throws
// SnapshotCacheError naming what does not match.
SnapshotCacheInfo parse_snapshot_cache(std::string_view bytes, const SnapshotCacheVisitor& visit,
                                       const SnapshotCacheAccepted& accepted = {});

// parse_snapshot_cache() on the file at `path` (mapped, not copied); nullopt when there is no
// such file. Throws SnapshotCacheError when it cannot be read or is refused.
std::optional<SnapshotCacheInfo> read_snapshot_cache(const std::filesystem::path& path,
                                                     const SnapshotCacheVisitor& visit,
                                                     const SnapshotCacheAccepted& accepted = {});

}  // namespace cloudmeta
