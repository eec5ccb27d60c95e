// An admin request-target -> parse_target, the router's percent_decode of the path, and
// parse_instance_query + run_instance_query over a few records in a real SQLite store (a
// temporary file, made once) (admin/request_target.cpp, admin/instance_query.cpp), as
// GET /api/v1/instances?... runs them. Malformed input throws ApiError or ValidationError (ip=,
// both a 400); nothing else may escape, and a page never exceeds the limit or the total.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <stdlib.h>

#include "api_error.hpp"
#include "cloudmeta/store.hpp"
#include "cloudmeta/validation_error.hpp"
#include "instance_query.hpp"
#include "request_target.hpp"

namespace {

std::unique_ptr<cloudmeta::Store> make_store() {
  char dir[] = "/tmp/cloudmeta-fuzz-XXXXXX";
  if (mkdtemp(dir) == nullptr) std::abort();
  auto store = cloudmeta::open_store(std::string("sqlite://") + dir + "/fuzz.db");
  store->migrate();
  const char* const ips[] = {"198.18.0.10", "198.18.0.11", "fd00:ec2::12"};
  for (int i = 0; i < 3; ++i) {
    cloudmeta::InstanceRecord r;
    r.instance_id = "i-0123456789abcdef" + std::to_string(i);
    r.ip = ips[i];
    r.hostname = "vm-" + std::to_string(i) + ".example.test";
    r.instance_type = i == 0 ? "t3.micro" : "m5.large";
    r.region = "eu-west-1";
    r.tags = {{"env", i == 2 ? "prod" : "dev"}, {"team", "a b"}};
    store->insert_instance(r);
  }
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto store = make_store();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto target = cloudmeta::admin::parse_target(text);
    (void)cloudmeta::admin::percent_decode(target.path, false);
    const auto query = cloudmeta::admin::parse_instance_query(target);
    const auto result = cloudmeta::admin::run_instance_query(query, *store, nullptr);
    if (result.total && (result.records.size() > *result.total || *result.total > 3)) std::abort();
    if (query.limit && result.records.size() > *query.limit) std::abort();
  } catch (const cloudmeta::admin::ApiError&) {
  } catch (const cloudmeta::ValidationError&) {
  }
  return 0;
}
