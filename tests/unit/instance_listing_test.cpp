// The admin listing's pure parts: GET /api/v1/instances' parameters (admin/instance_query.hpp), its
// cursors (admin/listing_cursor.hpp), the prefix bounds of q= (store/instance_listing_sql.hpp) and
// LastSeen's ordered walk. The listing itself runs on real stores in tests/store.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "api_error.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/last_seen.hpp"
#include "instance_query.hpp"
#include "listing_cursor.hpp"
#include "request_target.hpp"
#include "store/instance_listing_sql.hpp"

namespace cm = cloudmeta;
using cm::admin::ApiError;

namespace {

cm::admin::InstanceQuery parsed(const std::string& query) {
  return cm::admin::parse_instance_query(cm::admin::parse_target("/api/v1/instances?" + query));
}

std::string refused_field(const std::string& query) {
  try {
    parsed(query);
  } catch (const ApiError& e) {
    CHECK(e.status() == cm::http::status::bad_request);
    return e.field();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("instance listing: parameters") {
  const auto q = parsed("q=Web-&tag=env=prod&tag=team&sort=hostname&order=desc&limit=20");
  CHECK(q.filter.prefix == "web-");
  REQUIRE(q.filter.tags.size() == 2);
  CHECK(q.filter.tags[0].value == "prod");
  CHECK_FALSE(q.filter.tags[1].value);
  CHECK(q.descending);
  CHECK(q.limit == 20u);
  CHECK_FALSE(parsed("q=").filter.prefix);  // an empty search is no filter
  CHECK(parsed("ip=::ffff:10.0.0.1").filter.ip == "10.0.0.1");

  CHECK(refused_field("limit=0") == "limit");
  CHECK(refused_field("limit=1001") == "limit");
  CHECK(refused_field("sort=nonsense") == "sort");
  CHECK(refused_field("tags=x") == "tags");
  CHECK(refused_field("q=" + std::string(257, 'a')) == "q");
  CHECK(refused_field("q=%ff") == "q");
  CHECK(refused_field("tag=a&tag=b&tag=c&tag=d&tag=e&tag=f&tag=g&tag=h&tag=i") == "tag");
  // offset stays where skipping is cheap; past it, and with a cursor, it is refused.
  CHECK(parsed("limit=100&offset=9900").offset == 9900u);
  CHECK(refused_field("limit=100&offset=9901") == "offset");
  CHECK(refused_field("offset=9001") == "offset");  // no limit: a page of up to 1000
  CHECK(refused_field("limit=10&offset=10&cursor=abc") == "offset");
}

TEST_CASE("instance listing: a cursor is good only for the query that made it") {
  cm::admin::ListingCursor c;
  c.position = {"web-1", "i-0123456789abcdef0"};
  const std::string text = cm::admin::encode_cursor(c, "query A");
  const auto back = cm::admin::decode_cursor(text, "query A");
  CHECK(back.phase == cm::admin::ListingCursor::Phase::kSorted);
  CHECK(back.position == c.position);

  cm::admin::ListingCursor seen;
  seen.phase = cm::admin::ListingCursor::Phase::kSeen;
  seen.seen_at = 1'700'000'000;
  seen.seen_ip = *cm::IpKey::parse("2001:db8::1");
  const auto seen_back = cm::admin::decode_cursor(cm::admin::encode_cursor(seen, "q"), "q");
  CHECK(seen_back.seen_at == seen.seen_at);
  CHECK(seen_back.seen_ip == seen.seen_ip);

  for (const std::string bad : {std::string(""), std::string("!!"), std::string("e30"),
                                std::string(3000, 'a'), text.substr(0, text.size() - 4)}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(cm::admin::decode_cursor(bad, "query A"), ApiError);
  }
  CHECK_THROWS_AS(cm::admin::decode_cursor(text, "query B"), ApiError);
}

TEST_CASE("instance listing: a prefix's upper bound") {
  using cm::store::prefix_successor;
  CHECK(prefix_successor("web") == "wec");
  CHECK(prefix_successor("a\x7f") == "a\xc2\x80");
  CHECK(prefix_successor("z\xc3\xbc") == "z\xc3\xbd");        // ü -> ý
  CHECK(prefix_successor("\xed\x9f\xbf") == "\xee\x80\x80");  // U+D7FF -> U+E000
  CHECK(prefix_successor("a\xf4\x8f\xbf\xbf") == "b");        // U+10FFFF has no successor
  CHECK(prefix_successor("\xf4\x8f\xbf\xbf").empty());
}

TEST_CASE("LastSeen::ordered walks the table for the next n in (at, address) order") {
  cm::LastSeen seen;
  const auto ip = [](const char* text) { return *cm::IpKey::parse(text); };
  seen.note(ip("10.0.0.3"), ip("10.0.0.3"), 20);
  seen.note(ip("10.0.0.1"), ip("10.0.0.1"), 10);
  seen.note(ip("10.0.0.2"), ip("10.0.0.2"), 20);
  seen.note(ip("10.0.0.4"), ip("10.0.0.4"), 5);
  const auto addresses = [](const std::vector<cm::SeenEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.caller.to_string());
    return out;
  };
  CHECK(addresses(seen.ordered(3, false, std::nullopt)) ==
        std::vector<std::string>{"10.0.0.4", "10.0.0.1", "10.0.0.2"});
  CHECK(addresses(seen.ordered(10, true, std::nullopt)) ==
        std::vector<std::string>{"10.0.0.3", "10.0.0.2", "10.0.0.1", "10.0.0.4"});
  CHECK(addresses(seen.ordered(10, false, cm::SeenPosition{20, ip("10.0.0.2")})) ==
        std::vector<std::string>{"10.0.0.3"});
  CHECK(addresses(seen.ordered(1, true, cm::SeenPosition{20, ip("10.0.0.2")})) ==
        std::vector<std::string>{"10.0.0.1"});
  CHECK(seen.ordered(0, false, std::nullopt).empty());
}
