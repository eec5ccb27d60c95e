// A fresh directory under $TMPDIR (or /tmp) for one test, removed with everything in it when the
// TempDir goes out of scope. Each test keeps its database, .env and server log here, so tests
// never share state and can run in parallel.
#pragma once

#include <filesystem>

namespace cloudmeta::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace cloudmeta::testing
