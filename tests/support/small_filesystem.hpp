// Test support: a small tmpfs of the test's own, so that a disk can be filled for real (the
// tests run as root). Unmounted lazily when the object goes, whatever the test left open on it.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace cloudmeta::testing {

class SmallFilesystem {
 public:
  explicit SmallFilesystem(const std::filesystem::path& at) : path_(at / "fs") {
    std::filesystem::create_directory(path_);
    const std::string command = "mount -t tmpfs -o size=4m tmpfs " + path_.string();
    REQUIRE(std::system(command.c_str()) == 0);
  }
  ~SmallFilesystem() {
    const std::string command = "umount -l " + path_.string();
    if (std::system(command.c_str()) != 0) MESSAGE("umount failed: " << path_);
  }
  const std::filesystem::path& path() const { return path_; }

  // Writes a file until the filesystem has no room left.
  void fill() {
    std::ofstream filler(path_ / "filler", std::ios::binary);
    const std::string chunk(4096, 'x');
    while (filler.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) &&
           filler.flush()) {
    }
  }
  void free_space() { std::filesystem::remove(path_ / "filler"); }

 private:
  std::filesystem::path path_;
};

}  // namespace cloudmeta::testing
