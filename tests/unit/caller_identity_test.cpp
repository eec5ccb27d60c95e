#include "cloudmeta/caller_identity.hpp"

#include <string>

#include <doctest/doctest.h>

using cloudmeta::CallerIdentity;
using cloudmeta::Cidr;
using cloudmeta::ForwardingFields;
using cloudmeta::identify_caller;
using cloudmeta::IpKey;
using cloudmeta::kMaxProxyHops;
using cloudmeta::ProxyHeader;

namespace {

IpKey ip(const char* s) { return *IpKey::parse(s); }

// A request whose X-Forwarded-For (the default proxy header) is `list`.
CallerIdentity via_xff(const char* peer, std::optional<std::string_view> list,
                       const std::vector<Cidr>& trusted) {
  return identify_caller(ip(peer), ForwardingFields{list, list.has_value()}, trusted,
                         ProxyHeader::kXForwardedFor);
}

const std::vector<Cidr> kLoopbackProxy = {*Cidr::parse("127.0.0.0/8")};

}  // namespace

TEST_CASE("without trusted proxies the peer is the caller and XFF marks the request forwarded") {
  auto id = via_xff("198.18.0.5", "10.9.9.9", {});
  CHECK(id.caller == ip("198.18.0.5"));
  CHECK(id.forwarded);
  CHECK_FALSE(via_xff("198.18.0.5", std::nullopt, {}).forwarded);
  // X-Real-IP names nobody either, and is no X-Forwarded-For.
  id = identify_caller(ip("198.18.0.5"), ForwardingFields{"10.8.8.8", false}, {},
                       ProxyHeader::kXRealIp);
  CHECK(id.caller == ip("198.18.0.5"));
  CHECK_FALSE(id.forwarded);
}

TEST_CASE("an untrusted peer cannot speak for another VM") {
  auto id = via_xff("198.18.0.5", "198.18.0.6", kLoopbackProxy);
  CHECK(id.caller == ip("198.18.0.5"));
  CHECK(id.forwarded);
  id = identify_caller(ip("198.18.0.5"), ForwardingFields{"198.18.0.6", false}, kLoopbackProxy,
                       ProxyHeader::kXRealIp);
  CHECK(id.caller == ip("198.18.0.5"));
}

TEST_CASE("a trusted proxy's X-Forwarded-For names the caller: rightmost untrusted entry") {
  std::vector<Cidr> trusted = {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("10.0.0.0/8")};
  auto id = via_xff("127.0.0.1", "198.18.0.7, 10.1.1.1", trusted);
  CHECK(id.caller == ip("198.18.0.7"));
  CHECK_FALSE(id.forwarded);  // the caller sent no X-Forwarded-For of its own
}

TEST_CASE("a caller that forges X-Forwarded-For is still itself, and its token PUT is refused") {
  // What HAProxy (`option forwardfor`, a line of its own, joined by the session) and nginx
  // ($proxy_add_x_forwarded_for) pass on when the guest at 198.18.0.7 sent the victim's address.
  for (const char* list : {"198.18.0.9, 198.18.0.7", "198.18.0.9,198.18.0.7",
                           "127.0.0.5, 198.18.0.9, 198.18.0.7", "garbage, 198.18.0.7"}) {
    CAPTURE(list);
    const auto id = via_xff("127.0.0.1", list, kLoopbackProxy);
    CHECK(id.caller == ip("198.18.0.7"));
    CHECK(id.forwarded);  // as AWS sees a guest's X-Forwarded-For: 403 on a token PUT
  }
}

TEST_CASE("empty list elements are skipped, as RFC 9110 asks") {
  const auto id = via_xff("127.0.0.1", " , 198.18.0.7 ,, 127.0.0.9 , ", kLoopbackProxy);
  CHECK(id.caller == ip("198.18.0.7"));
  CHECK_FALSE(id.forwarded);
}

TEST_CASE("a list of trusted addresses only, or one that stops at garbage, ends at a trusted hop") {
  // Every hop trusted: the leftmost, vouched for by the hop to its right.
  auto id = via_xff("127.0.0.1", "127.0.0.3, 127.0.0.2", kLoopbackProxy);
  CHECK(id.caller == ip("127.0.0.3"));
  CHECK_FALSE(id.forwarded);
  // A trusted hop wrote something that is not an address: the walk stops at that hop.
  id = via_xff("127.0.0.1", "198.18.0.9, unknown, 127.0.0.2", kLoopbackProxy);
  CHECK(id.caller == ip("127.0.0.2"));
  CHECK(id.forwarded);
  id = via_xff("127.0.0.1", "unknown", kLoopbackProxy);
  CHECK(id.caller == ip("127.0.0.1"));
  // Present but empty: the peer.
  CHECK(via_xff("127.0.0.1", "", kLoopbackProxy).caller == ip("127.0.0.1"));
  CHECK(via_xff("127.0.0.1", " , ", kLoopbackProxy).caller == ip("127.0.0.1"));
}

TEST_CASE("the walk examines at most kMaxProxyHops addresses, however long the list") {
  // A guest's forged address followed by more trusted hops than are followed: the walk ends on a
  // trusted address, never on the forged one.
  std::string list = "198.18.0.9";
  for (std::size_t i = 0; i < kMaxProxyHops; ++i) list += ", 127.0.0." + std::to_string(i + 2);
  auto id = via_xff("127.0.0.1", list, kLoopbackProxy);
  CHECK(id.caller == ip("127.0.0.2"));
  CHECK(id.forwarded);
  // One hop fewer, and the forged address's own hop is reached: the chain is followed.
  list = "198.18.0.9";
  for (std::size_t i = 1; i < kMaxProxyHops; ++i) list += ", 127.0.0." + std::to_string(i + 2);
  CHECK(via_xff("127.0.0.1", list, kLoopbackProxy).caller == ip("198.18.0.9"));
  // 10,000 entries cost what 16 do: the walk stops at the first untrusted one from the right.
  std::string long_list;
  for (int i = 0; i < 10'000; ++i) long_list += "198.18.0.9, ";
  long_list += "198.18.0.7";
  id = via_xff("127.0.0.1", long_list, kLoopbackProxy);
  CHECK(id.caller == ip("198.18.0.7"));
  CHECK(id.forwarded);
}

TEST_CASE("TRUSTED_PROXY_HEADER=x-real-ip: X-Real-IP names the caller, X-Forwarded-For never") {
  const auto real_ip = [](const char* peer, std::optional<std::string_view> value, bool xff) {
    return identify_caller(ip(peer), ForwardingFields{value, xff}, kLoopbackProxy,
                           ProxyHeader::kXRealIp);
  };
  auto id = real_ip("127.0.0.1", " 198.18.0.8 ", false);
  CHECK(id.caller == ip("198.18.0.8"));
  CHECK_FALSE(id.forwarded);
  // The guest's own X-Forwarded-For passes the proxy untouched: AWS's rule applies to it.
  id = real_ip("127.0.0.1", "198.18.0.8", true);
  CHECK(id.caller == ip("198.18.0.8"));
  CHECK(id.forwarded);
  // A proxy that adds its line below the guest's forged one: the last line counts.
  CHECK(real_ip("127.0.0.1", "198.18.0.9, 198.18.0.8", false).caller == ip("198.18.0.8"));
  CHECK(real_ip("127.0.0.1", "garbage", false).caller == ip("127.0.0.1"));
  CHECK(real_ip("127.0.0.1", std::nullopt, true).caller == ip("127.0.0.1"));
}
