// The snapshot cache file at fleet size (docs/benchmarks.md, "Snapshot cache"):
//   cloudmeta_cache_bench write FILE COUNT   writes COUNT rows of 929-byte documents, as a full
//                                            reload does (SnapshotCacheWriter: buffered writes,
//                                            BLAKE2b, fsync, rename); prints size and time
//   cloudmeta_cache_bench read FILE          reads it back into a Snapshot as `serve` does at
//                                            start (Fleet::load_cache); prints instances and time
// The end-to-end start (launch to port accepting, the database refusing) is bench/run.sh-style
// timing of `cloudmeta serve` with SNAPSHOT_CACHE=FILE; the command is in docs/benchmarks.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/snapshot_cache.hpp"
#include "cloudmeta/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A document the size of `cloudmeta_loadgen records`' (929 bytes); its content does not matter:
// rows are decoded on a VM's first request, never at load.
std::string document(long n) {
  std::string doc = R"({"hostname":"vm-)" + std::to_string(n) + R"(.fleet.internal","user_data":")";
  doc.append(929 - doc.size() - 2, 'x');
  doc += "\"}";
  return doc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s write FILE COUNT | read FILE\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::filesystem::path file = argv[2];
  if (mode == "write" && argc == 4) {
    const long count = std::atol(argv[3]);
    const auto start = Clock::now();
    cloudmeta::SnapshotCacheWriter writer(file);
    char id[32], ip[32];
    for (long n = 0; n < count; ++n) {
      std::snprintf(id, sizeof id, "i-%017ld", n);
      std::snprintf(ip, sizeof ip, "10.%ld.%ld.%ld", (n >> 16) & 255, (n >> 8) & 255, n & 255);
      const std::string doc = document(n);
      writer.add({id, ip, doc, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"});
    }
    writer.commit(count, "");
    std::printf("wrote %ld rows, %.1f MB, in %.0f ms\n", count,
                static_cast<double>(std::filesystem::file_size(file)) / 1e6, ms_since(start));
    return 0;
  }
  if (mode == "read") {
    const auto start = Clock::now();
    std::optional<cloudmeta::Snapshot::Builder> builder;
    const auto info = cloudmeta::read_snapshot_cache(
        file, [&builder](const cloudmeta::StoredInstance& row) { builder->add(row); },
        [&builder](const cloudmeta::SnapshotCacheInfo& accepted) {
          builder.emplace(static_cast<std::size_t>(accepted.rows));
        });
    if (!info) return 1;
    const auto snapshot = builder->finish(info->revision);
    std::printf("read %zu instances in %.0f ms\n", snapshot->size(), ms_since(start));
    return 0;
  }
  std::fprintf(stderr, "usage: %s write FILE COUNT | read FILE\n", argv[0]);
  return 2;
}
