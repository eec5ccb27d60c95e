#include "listing_cursor.hpp"

#include <sodium.h>

#include <array>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "api_error.hpp"

namespace cloudmeta::admin {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;
constexpr std::size_t kMaxCursor = 2048;

// FNV-1a: a cursor names its query by a fingerprint that is the same on every host and build
// (std::hash is neither), so that a page from one host of a fleet continues on another.
std::string fingerprint(const std::string& query) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : query) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

[[noreturn]] void refuse(const std::string& why) {
  throw ApiError(http::status::bad_request,
                 "cursor " + why +
                     ": pass the next_cursor of the previous page unchanged, with the same sort, "
                     "order and filters",
                 "cursor");
}

std::string hex(const IpKey& ip) {
  std::string out(33, '\0');
  sodium_bin2hex(out.data(), out.size(), ip.bytes().data(), ip.bytes().size());
  out.pop_back();
  return out;
}

std::optional<IpKey> from_hex(const std::string& text) {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t length = 0;
  if (text.size() != 32 ||
      sodium_hex2bin(bytes.data(), bytes.size(), text.data(), text.size(), nullptr, &length,
                     nullptr) != 0 ||
      length != bytes.size()) {
    return std::nullopt;
  }
  return IpKey::from_v6(bytes);
}

}  // namespace

std::string encode_cursor(const ListingCursor& cursor, const std::string& query) {
  json body = {{"v", kVersion}, {"q", fingerprint(query)}};
  switch (cursor.phase) {
    case ListingCursor::Phase::kSorted:
      body["k"] = cursor.position.key;
      body["i"] = cursor.position.instance_id;
      break;
    case ListingCursor::Phase::kSeen:
      body["p"] = "seen";
      body["t"] = cursor.seen_at;
      body["a"] = hex(cursor.seen_ip);
      break;
    case ListingCursor::Phase::kUnseen:
      body["p"] = "unseen";
      body["i"] = cursor.position.instance_id;
      break;
  }
  const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out(sodium_base64_ENCODED_LEN(text.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()),
                    text.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

ListingCursor decode_cursor(const std::string& text, const std::string& query) {
  if (text.empty() || text.size() > kMaxCursor) refuse("is not one this server made");
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    refuse("is not one this server made");
  }
  bytes.resize(length);
  const json body = json::parse(bytes, nullptr, false);
  const auto string_at = [&body](const char* name) -> const std::string* {
    const auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const auto version = body.find("v");  // end() for a body that is not an object
  if (!body.is_object() || version == body.end() || !version->is_number_integer() ||
      version->get<std::int64_t>() != kVersion || !string_at("q")) {
    refuse("is not one this server made");
  }
  if (*string_at("q") != fingerprint(query)) refuse("was made for another query");
  ListingCursor cursor;
  const std::string* phase = string_at("p");
  const std::string* id = string_at("i");
  if (!phase) {
    const std::string* key = string_at("k");
    if (!key || !id) refuse("is not one this server made");
    cursor.position = {*key, *id};
  } else if (*phase == "seen") {
    const auto at = body.find("t");
    const std::string* address = string_at("a");
    const auto ip = address ? from_hex(*address) : std::nullopt;
    if (at == body.end() || !at->is_number_integer() || !ip) {
      refuse("is not one this server made");
    }
    cursor.phase = ListingCursor::Phase::kSeen;
    cursor.seen_at = at->get<std::int64_t>();
    cursor.seen_ip = *ip;
  } else if (*phase == "unseen" && id) {
    cursor.phase = ListingCursor::Phase::kUnseen;
    cursor.position = {{}, *id};
  } else {
    refuse("is not one this server made");
  }
  return cursor;
}

}  // namespace cloudmeta::admin
