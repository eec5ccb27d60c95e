// Arbitrary strings as IMDSv2 tokens -> TokenAuthority::verify (server/imds/token_authority.cpp):
// never throws, and a forged string is never valid. The first byte picks the caller, so the memo
// of verified tokens (per thread) is exercised across callers; a real token issued here and
// verified alongside keeps the valid path (and the memo hit) in every run.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/token_authority.hpp"

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::string_view kInstance = "i-0123456789abcdef0";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cloudmeta::TokenAuthority tokens("fuzz-secret-key-0123456789abcdef0123456789");
  static const cloudmeta::IpKey callers[] = {*cloudmeta::IpKey::parse("198.18.0.10"),
                                             *cloudmeta::IpKey::parse("fd00:ec2::10")};
  static const std::string issued = tokens.issue(callers[0], kInstance, 600, kNow);
  if (size == 0) return 0;
  const cloudmeta::IpKey& caller = callers[data[0] % 2];
  const std::string_view token(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto verdict = tokens.verify(token, caller, kInstance, kNow);
  if (verdict.check == cloudmeta::TokenCheck::kValid && token != issued) std::abort();
  if (tokens.verify(issued, callers[0], kInstance, kNow).check != cloudmeta::TokenCheck::kValid) {
    std::abort();
  }
  return 0;
}
