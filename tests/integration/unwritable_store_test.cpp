// The real binary with its SQLite file on a filesystem that stops taking writes (the tests run as
// root): a small tmpfs that fills up, and an ext4 image that the kernel remounts read-only after
// an error (errors=remount-ro; an administrator's `mount -o remount,ro` is refused while the
// database is open for writing). Authenticated reads and /metrics scrapes go on, writes answer
// 503, and once there is room again writes work without a restart, nothing acknowledged lost.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "deployment.hpp"
#include "small_filesystem.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

TEST_CASE("full disk: reads and scrapes go on, writes are 503, then work again without restart") {
  TempDir mount_point;
  SmallFilesystem fs(mount_point.path());
  Deployment d(Environment{{"DATABASE_URL", "sqlite://" + (fs.path() / "cloudmeta.db").string()}});
  d.start();
  d.create_instance(instance_record("i-0123456789abcdef6", "127.0.0.66"));
  fs.fill();

  for (int i = 0; i < 5; ++i) {
    CHECK(d.admin("GET", "/api/v1/instances").status == 200);
    CHECK(d.admin("GET", "/metrics").status == 200);
    CHECK(d.admin("GET", "/api/v1/tokens").status == 200);
  }
  const HttpResponse refused = d.admin(
      "POST", "/api/v1/instances", instance_record("i-0123456789abcdef7", "127.0.0.67").dump());
  CHECK(refused.status == 503);
  CHECK(json::parse(refused.body)["error"].get<std::string>().find("read-only") !=
        std::string::npos);
  CHECK(d.imds_get("127.0.0.66", "/latest/meta-data/instance-id").body == "i-0123456789abcdef6");

  fs.free_space();
  CHECK(d.admin("POST", "/api/v1/instances",
                instance_record("i-0123456789abcdef7", "127.0.0.67").dump())
            .status == 201);
  const json listed = json::parse(d.admin("GET", "/api/v1/instances").body);
  CHECK(listed["count"] == 2);
  CHECK(d.stop() == 0);
}

namespace {

// An ext4 image on a loop device, mounted errors=remount-ro.
class Ext4Image {
 public:
  explicit Ext4Image(const std::filesystem::path& at) : image_(at / "ext4.img"), path_(at / "mnt") {
    std::filesystem::create_directory(path_);
    const std::string make = "truncate -s 16M " + image_.string() + " && mkfs.ext4 -q -F " +
                             image_.string() + " && mount -o loop,errors=remount-ro " +
                             image_.string() + " " + path_.string();
    REQUIRE(std::system(make.c_str()) == 0);
  }
  ~Ext4Image() {
    const std::string command = "umount " + path_.string();
    if (std::system(command.c_str()) != 0) MESSAGE("umount failed: " << path_);
  }
  const std::filesystem::path& path() const { return path_; }

  // What ext4 does on a metadata error: remount read-only, whoever has files open.
  void fail() {
    const std::string command = "echo test > /sys/fs/ext4/$(basename $(findmnt -n -o SOURCE " +
                                path_.string() + "))/trigger_fs_error";
    REQUIRE(std::system(command.c_str()) == 0);
  }

 private:
  std::filesystem::path image_;
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("read-only filesystem: reads and scrapes go on, writes are 503, the server stops cleanly") {
  TempDir dir;
  Ext4Image fs(dir.path());
  {
    Deployment d(
        Environment{{"DATABASE_URL", "sqlite://" + (fs.path() / "cloudmeta.db").string()}});
    d.start();
    d.create_instance(instance_record("i-0123456789abcdef8", "127.0.0.68"));
    fs.fail();

    for (int i = 0; i < 5; ++i) {
      CHECK(d.admin("GET", "/api/v1/instances").status == 200);
      CHECK(d.admin("GET", "/metrics").status == 200);
      CHECK(d.admin("GET", "/api/v1/instances/i-0123456789abcdef8").status == 200);
    }
    const HttpResponse refused =
        d.admin("POST", "/api/v1/instances",
                instance_record("i-0123456789abcdef9", "127.0.0.69").dump());
    CHECK(refused.status == 503);
    CHECK(json::parse(refused.body).contains("error"));
    CHECK(d.imds_get("127.0.0.68", "/latest/meta-data/instance-id").body ==
          "i-0123456789abcdef8");
    CHECK(d.stop() == 0);
  }
}
