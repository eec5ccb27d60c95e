#include "http/imds_headers.hpp"

#include <doctest/doctest.h>

#include <string>

using cloudmeta::ProxyHeader;
using cloudmeta::http_server::ImdsHeaders;
using cloudmeta::http_server::keep_alive;
namespace http = boost::beast::http;

namespace {

// The session's call, with X-Forwarded-For as the proxy header (the default) unless told.
template <class Fields>
ImdsHeaders read_imds_headers(const Fields& f, ProxyHeader header = ProxyHeader::kXForwardedFor) {
  static std::string joined;
  return cloudmeta::http_server::read_imds_headers(f, header, joined);
}

}  // namespace

TEST_CASE("the metadata headers are found whatever their case, and absent ones stay absent") {
  http::fields f;
  f.insert("Host", "169.254.169.254");
  f.insert("x-aws-ec2-metadata-token", "tok");
  f.insert("X-AWS-EC2-METADATA-TOKEN-TTL-SECONDS", "21600");
  f.insert("user-agent", "curl");
  auto h = read_imds_headers(f);
  CHECK(h.token == "tok");
  CHECK(h.ttl == "21600");
  CHECK_FALSE(h.forwarding.proxy_list);
  CHECK_FALSE(h.forwarding.x_forwarded_for);

  http::fields proxied;
  proxied.insert("x-forwarded-for", "198.18.0.7, 198.18.0.8");
  proxied.insert("X-Real-Ip", "198.18.0.9");
  auto p = read_imds_headers(proxied);
  CHECK(p.forwarding.proxy_list == "198.18.0.7, 198.18.0.8");
  CHECK(p.forwarding.x_forwarded_for);
  CHECK_FALSE(p.token);
  CHECK_FALSE(p.ttl);
}

TEST_CASE("only the chosen proxy header names the caller, X-Forwarded-For is noted either way") {
  http::fields proxied;
  proxied.insert("X-Forwarded-For", "198.18.0.7");
  proxied.insert("x-real-ip", "198.18.0.9");
  auto real_ip = read_imds_headers(proxied, ProxyHeader::kXRealIp);
  CHECK(real_ip.forwarding.proxy_list == "198.18.0.9");
  CHECK(real_ip.forwarding.x_forwarded_for);

  http::fields real_ip_only;
  real_ip_only.insert("X-Real-IP", "198.18.0.9");
  auto xff = read_imds_headers(real_ip_only, ProxyHeader::kXForwardedFor);
  CHECK_FALSE(xff.forwarding.proxy_list);
  CHECK_FALSE(xff.forwarding.x_forwarded_for);
}

TEST_CASE("every line of the proxy header counts, joined in order into one list") {
  // HAProxy's `option forwardfor` adds a line of its own below the one the guest sent.
  http::fields f;
  f.insert("X-Forwarded-For", "198.18.0.9");
  f.insert("Accept", "*/*");
  f.insert("x-forwarded-for", "198.18.0.7");
  f.insert("X-FORWARDED-FOR", "127.0.0.5");
  CHECK(read_imds_headers(f).forwarding.proxy_list == "198.18.0.9, 198.18.0.7, 127.0.0.5");
  http::fields r;
  r.insert("X-Real-IP", "198.18.0.9");
  r.insert("X-Real-IP", "198.18.0.7");
  CHECK(read_imds_headers(r, ProxyHeader::kXRealIp).forwarding.proxy_list ==
        "198.18.0.9, 198.18.0.7");
  // One line is a view into the request itself, never a copy.
  http::fields one;
  one.insert("X-Forwarded-For", "198.18.0.7");
  const auto list = *read_imds_headers(one).forwarding.proxy_list;
  CHECK(list.data() == one.begin()->value().data());
}

TEST_CASE("names of the same length that are not ours are ignored, the first repeat wins") {
  http::fields f;
  f.insert("X-Forwarded-Bar", "no");                           // 15 bytes, like X-Forwarded-For
  f.insert("X-Real-IQ", "no");                                 // 9, like X-Real-IP
  f.insert("X-aws-ec2-metadata-tokeN", "first");
  f.insert("X-aws-ec2-metadata-token", "second");
  f.insert("X-aws-ec2-metadata-token-ttl-secondz", "no");      // 36, like the TTL header
  f.insert("Accept", "*/*");
  auto h = read_imds_headers(f);
  CHECK_FALSE(h.forwarding.proxy_list);
  CHECK_FALSE(h.forwarding.x_forwarded_for);
  CHECK_FALSE(read_imds_headers(f, ProxyHeader::kXRealIp).forwarding.proxy_list);
  CHECK(h.token == "first");
  CHECK_FALSE(h.ttl);
  // As Beast's own lookup answers.
  CHECK(f.find("X-aws-ec2-metadata-token")->value() == "first");
}

TEST_CASE("a request without fields has none of them") {
  http::fields f;
  auto h = read_imds_headers(f);
  CHECK_FALSE(h.token);
  CHECK_FALSE(h.ttl);
  CHECK_FALSE(h.forwarding.proxy_list);
  CHECK_FALSE(h.forwarding.x_forwarded_for);
}

TEST_CASE("keep_alive from the one-pass Connection field decides as Beast's keep_alive()") {
  for (const unsigned version : {10u, 11u}) {
    for (const char* connection :
         {"", "close", "Close", "keep-alive", "Keep-Alive", "upgrade, close", "close, upgrade",
          " close ", "closed", "keep-alive, close", "foo,,bar", ",", "keep-alive;x", "te"}) {
      CAPTURE(version);
      CAPTURE(connection);
      http::request<http::empty_body> req(http::verb::get, "/", version);
      req.set("Connection", connection);
      req.insert("connection", "close");  // a second field: the first one decides, in both
      CHECK(read_imds_headers(req).connection == req[http::field::connection]);  // the first
      CHECK(keep_alive(version, read_imds_headers(req).connection) == req.keep_alive());
    }
    http::request<http::empty_body> bare(http::verb::get, "/", version);
    CHECK(keep_alive(version, read_imds_headers(bare).connection) == bare.keep_alive());
    CHECK(keep_alive(version, std::nullopt) == (version == 11));
  }
}
