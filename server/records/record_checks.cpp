#include "records/record_checks.hpp"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/validation_error.hpp"

namespace cloudmeta::record_checks {
namespace {

constexpr std::size_t kMaxLineBytes = 1024;

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw ValidationError(field, message);
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alnum(char c) { return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z'); }

template <class Pred>
bool all_chars(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), [&](char c) { return pred(c); });
}

// "us-east-1", "us-gov-west-1", "cn-north-1": lowercase words joined by '-', then a number.
bool is_region(std::string_view v) {
  const auto dash = v.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == v.size()) return false;
  if (!all_chars(v.substr(dash + 1), is_digit)) return false;
  const auto words = v.substr(0, dash);
  return !words.empty() && words.front() != '-' && words.back() != '-' &&
         words.find("--") == std::string_view::npos &&
         all_chars(words, [](char c) { return is_lower(c) || c == '-'; });
}

std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !all_chars(s, is_digit))
    return std::nullopt;
  return v;
}

// Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian, no time zone tables.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

}  // namespace

// Overlongs, surrogates and values past U+10FFFF are invalid too: nlohmann refuses to serialise
// them.
std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    std::uint32_t cp = c;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= s.size()) return std::nullopt;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    i += extra + 1;
  }
  return count;
}

// Most fields become one line of an IMDS listing or leaf: no control characters, bounded.
std::string single_line(const std::string& v, const std::string& field) {
  if (v.size() > kMaxLineBytes) fail(field, "longer than " + std::to_string(kMaxLineBytes));
  if (!utf8_length(v)) fail(field, "not valid UTF-8");
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) fail(field, "control characters");
  }
  return v;
}

std::string one_of(const std::string& v, const std::string& field,
                   std::initializer_list<std::string_view> allowed) {
  std::string list;
  for (auto a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  fail(field, "must be one of: " + list);
}

// EC2 resource ids: prefix-, then 8 (older) or 17 lowercase hex digits.
std::string aws_id(const std::string& v, const std::string& field, std::string_view prefix) {
  const std::string head = std::string(prefix) + "-";
  const auto digits = std::string_view(v).substr(std::min(v.size(), head.size()));
  if (v.rfind(head, 0) != 0 || (digits.size() != 8 && digits.size() != 17) ||
      !all_chars(digits, is_lower_hex)) {
    fail(field, "must be " + head + " followed by 8 or 17 lowercase hex digits");
  }
  return v;
}

std::string check_ipv4(const std::string& v, const std::string& field) {
  auto ip = IpKey::parse(v);
  if (!ip || !ip->is_v4()) fail(field, "must be an IPv4 address");
  return ip->to_string();
}

std::string check_ipv6(const std::string& v, const std::string& field) {
  auto ip = IpKey::parse(v);
  if (!ip || ip->is_v4()) fail(field, "must be an IPv6 address");
  return ip->to_string();
}

// AWS VPC and subnet blocks: a.b.c.d/n with no host bits set.
std::string check_cidr_v4(const std::string& v, const std::string& field) {
  const auto slash = v.find('/');
  const auto ip = IpKey::parse(std::string_view(v).substr(0, slash));
  const auto digits =
      slash == std::string::npos ? std::string_view() : std::string_view(v).substr(slash + 1);
  int prefix = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
  if (!ip || !ip->is_v4() || digits.empty() || ec != std::errc() ||
      end != digits.data() + digits.size() || prefix < 0 || prefix > 32) {
    fail(field, "must be an IPv4 CIDR block like 10.0.0.0/16");
  }
  const auto& b = ip->bytes();
  const std::uint32_t addr = (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) |
                             (std::uint32_t{b[14]} << 8) | b[15];
  const std::uint32_t host_mask = prefix == 32 ? 0 : (0xFFFFFFFFu >> prefix);
  if ((addr & host_mask) != 0) fail(field, "has host bits set after the prefix length");
  return ip->to_string() + "/" + std::to_string(prefix);
}

// RFC 1123 host name: cloud-init sets the guest's host name from these leaves.
std::string check_hostname(const std::string& v, const std::string& field) {
  bool ok = v.size() <= 253;
  std::size_t start = 0;
  while (ok && start <= v.size()) {
    auto dot = v.find('.', start);
    if (dot == std::string::npos) dot = v.size();
    const auto label = std::string_view(v).substr(start, dot - start);
    ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
         all_chars(label, [](char c) { return is_alnum(c) || c == '-'; });
    start = dot + 1;
  }
  if (!ok) fail(field, "must be a host name (dot-separated labels of letters, digits and '-')");
  return v;
}

std::string check_interface_name(const std::string& v, const std::string& field) {
  constexpr std::size_t kMaxName = 15;  // IFNAMSIZ less the terminating NUL
  const bool ok = !v.empty() && v.size() <= kMaxName && v != "." && v != ".." &&
                  all_chars(v, [](char c) {
                    return c > ' ' && c != 0x7f && c != '/' && c != ':';
                  });
  if (!ok) {
    fail(field, "must be a network interface name (1-15 characters, no '/', ':' or spaces), "
                "such as vnet3 or tap0");
  }
  return v;
}

std::string check_mac(const std::string& v, const std::string& field) {
  std::string out = v;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c; });
  bool ok = out.size() == 17;
  for (std::size_t i = 0; ok && i < out.size(); ++i) {
    ok = (i % 3 == 2) ? out[i] == ':' : is_lower_hex(out[i]);
  }
  if (!ok) fail(field, "must be a MAC address like 0e:49:61:0f:c3:11");
  return out;
}

std::string check_instance_id(const std::string& v, const std::string& field) {
  return aws_id(v, field, "i");
}

std::string check_region(const std::string& v, const std::string& field) {
  if (!is_region(v)) fail(field, "must be a region like us-east-1");
  return v;
}

std::string check_availability_zone(const std::string& v, const std::string& field) {
  if (v.size() < 2 || !is_lower(v.back()) ||
      !is_region(std::string_view(v).substr(0, v.size() - 1))) {
    fail(field, "must be a region followed by one letter, like us-east-1a");
  }
  return v;
}

// Zone ids: "use1-az1", "apne1-az4", "usgw1-az1".
std::string check_availability_zone_id(const std::string& v, const std::string& field) {
  const auto dash = v.find("-az");
  const auto head = std::string_view(v).substr(0, std::min(dash, v.size()));
  const auto tail =
      dash == std::string::npos ? std::string_view() : std::string_view(v).substr(dash + 3);
  const auto first_digit = head.find_first_of("0123456789");
  const bool ok = dash != std::string::npos && !tail.empty() && all_chars(tail, is_digit) &&
                  first_digit != std::string_view::npos && first_digit > 0 &&
                  all_chars(head.substr(0, first_digit), is_lower) &&
                  all_chars(head.substr(first_digit), is_digit);
  if (!ok) fail(field, "must be a zone id like use1-az1");
  return v;
}

std::string check_account_id(const std::string& v, const std::string& field) {
  if (v.size() != 12 || !all_chars(v, is_digit)) fail(field, "must be 12 digits");
  return v;
}

// "t3.micro", "m5d.24xlarge", "u-6tb1.metal".
std::string check_instance_type(const std::string& v, const std::string& field) {
  const auto dot = v.find('.');
  const auto family = std::string_view(v).substr(0, std::min(dot, v.size()));
  const auto size =
      dot == std::string::npos ? std::string_view() : std::string_view(v).substr(dot + 1);
  auto ok_part = [](std::string_view p) {
    return !p.empty() && p.size() <= 32 &&
           all_chars(p, [](char c) { return is_lower(c) || is_digit(c) || c == '-'; });
  };
  if (!ok_part(family) || !ok_part(size)) fail(field, "must be an instance type like t3.micro");
  return v;
}

// A name that becomes one IMDS path segment or listing line.
void check_path_segment(const std::string& key, const std::string& field) {
  single_line(key, field);
  if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos) {
    fail(field, "name must be non-empty, without '/', and not '.' or '..'");
  }
}

std::string check_nonempty_line(const std::string& v, const std::string& field) {
  if (v.empty()) fail(field, "must not be empty");
  return single_line(v, field);
}

// AWS tag rules, narrowed to what IMDS can expose (Using_Tags.html, "tags in instance
// metadata"): key 1..128 of [0-9a-zA-Z+-=.,_:@], not ".", "..", "_index"; "aws:" is reserved.
void check_tag_key(const std::string& key, const std::string& field) {
  if (key.empty() || key.size() > 128) fail(field, "tag key must be 1 to 128 characters");
  const bool chars_ok = all_chars(key, [](char c) {
    return is_alnum(c) || std::string_view("+-=.,_:@").find(c) != std::string_view::npos;
  });
  if (!chars_ok) {
    fail(field,
         "tag key may only use letters, digits and + - = . , _ : @ (IMDS exposes keys as paths)");
  }
  if (key == "." || key == ".." || key == "_index") fail(field, "tag key is reserved by IMDS");
  std::string prefix = key.substr(0, 4);
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  if (prefix == "aws:") fail(field, "tag keys starting with aws: are reserved by AWS");
}

std::string check_tag_value(const std::string& v, const std::string& field) {
  const auto length = utf8_length(v);
  if (!length) fail(field, "not valid UTF-8");
  if (*length > 256) fail(field, "tag value must be at most 256 characters");
  return v;
}

void check_key_name(const std::string& key, const std::string& field) {
  if (key.empty() || key.size() > 255) fail(field, "key name must be 1 to 255 characters");
  single_line(key, field);
  if (key.find_first_of("=/") != std::string::npos) {
    // public-keys/ lists "0=name"; '=' or '/' would corrupt that listing for cloud-init.
    fail(field, "key name must not contain '=' or '/'");
  }
}

std::optional<std::string> base64_decode(std::string_view text, const char* ignore) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), ignore, &out_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(out_len);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// An OpenSSH public key line: "<type> <base64 blob> [comment]". The blob starts with the type
// name again (RFC 4253 §6.6), which catches pasted private keys and truncated blobs.
std::string check_public_key(const std::string& v, const std::string& field) {
  static constexpr std::string_view kTypes[] = {"ssh-ed25519",
                                                "ssh-rsa",
                                                "ssh-dss",
                                                "ecdsa-sha2-nistp256",
                                                "ecdsa-sha2-nistp384",
                                                "ecdsa-sha2-nistp521",
                                                "sk-ssh-ed25519@openssh.com",
                                                "sk-ecdsa-sha2-nistp256@openssh.com"};
  const auto first = v.find_first_not_of(" \t\r\n");
  const auto last = v.find_last_not_of(" \t\r\n");
  const std::string line = first == std::string::npos ? "" : v.substr(first, last - first + 1);
  if (line.size() > 16384 || line.find_first_of("\r\n") != std::string::npos) {
    fail(field, "must be one OpenSSH public key line");
  }
  const auto sp = line.find(' ');
  const std::string type = line.substr(0, sp);
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes)) {
    fail(field, "must start with a known OpenSSH key type such as ssh-ed25519 or ssh-rsa");
  }
  const auto blob_start = sp == std::string::npos ? line.size() : sp + 1;
  const auto blob_end = std::min(line.find(' ', blob_start), line.size());
  const auto blob =
      base64_decode(std::string_view(line).substr(blob_start, blob_end - blob_start), nullptr);
  const bool blob_ok = blob && blob->size() >= 4 + type.size() &&
                       blob->compare(4, type.size(), type) == 0 &&
                       static_cast<unsigned char>((*blob)[3]) == type.size() && (*blob)[0] == 0 &&
                       (*blob)[1] == 0 && (*blob)[2] == 0;
  if (!blob_ok) fail(field, "key data is not a valid base64 " + type + " public key");
  return single_line(line, field);
}

std::string check_block_device(const std::string& v, const std::string& field) {
  return check_nonempty_line(v, field);
}

// IAM role names: [\w+=,.@-]{1,64} (IAM API reference); the name is an IMDS path segment.
std::string check_role(const std::string& v, const std::string& field) {
  const bool ok =
      v.size() <= 64 && all_chars(v, [](char c) {
        return is_alnum(c) || std::string_view("_+=,.@-").find(c) != std::string_view::npos;
      });
  if (!ok) fail(field, "must be an IAM role name: up to 64 of letters, digits and _+=,.@-");
  return v;
}

std::string check_access_key_id(const std::string& v, const std::string& field) {
  if (v.size() < 16 || v.size() > 128 ||
      !all_chars(v, [](char c) { return is_alnum(c) || c == '_'; })) {
    fail(field, "must be 16 to 128 letters, digits or '_' (AWS AccessKeyId)");
  }
  return v;
}

std::string check_credential(const std::string& v, const std::string& field) {
  const bool ok = v.size() <= 8192 && all_chars(v, [](char c) { return c > 0x20 && c < 0x7f; });
  if (!ok) fail(field, "must be printable ASCII without spaces, at most 8192 characters");
  return v;
}

// RFC 3339 date-time -> "YYYY-MM-DDTHH:MM:SSZ" in UTC, the only form AWS SDKs are known to
// parse in credential Expiration; fractional seconds are dropped.
std::string check_rfc3339(const std::string& v, const std::string& field) {
  auto bad = [&]() -> std::string {
    fail(field, "must be an RFC 3339 time like 2030-01-01T00:00:00Z");
  };
  const std::string_view s = v;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return bad();
  }
  const auto year = parse_int(s.substr(0, 4)), month = parse_int(s.substr(5, 2)),
             day = parse_int(s.substr(8, 2)), hour = parse_int(s.substr(11, 2)),
             minute = parse_int(s.substr(14, 2)), second = parse_int(s.substr(17, 2));
  if (!year || !month || !day || !hour || !minute || !second) return bad();
  std::size_t i = 19;
  if (s[i] == '.') {
    const auto end = s.find_first_not_of("0123456789", i + 1);
    if (end == std::string_view::npos || end == i + 1) return bad();
    i = end;
  }
  int offset_minutes = 0;
  const auto zone = s.substr(i);
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const auto oh = parse_int(zone.substr(1, 2)), om = parse_int(zone.substr(4, 2));
    if (!oh || !om || *oh > 23 || *om > 59) return bad();
    offset_minutes = (zone[0] == '+' ? 1 : -1) * (*oh * 60 + *om);
  } else {
    return bad();
  }
  static constexpr unsigned kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  if (*month < 1 || *month > 12 || *day < 1 ||
      static_cast<unsigned>(*day) > kDaysInMonth[*month - 1] - (*month == 2 && !leap ? 1 : 0) ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return bad();
  }
  const std::int64_t seconds = days_from_civil(*year, *month, *day) * 86400 + *hour * 3600 +
                               *minute * 60 + *second - offset_minutes * 60;
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400, y, m, d);
  const std::int64_t tod = seconds - days_from_civil(y, m, d) * 86400;
  if (y < 0 || y > 9999) fail(field, "year out of range after conversion to UTC");
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d,
                static_cast<int>(tod / 3600), static_cast<int>(tod / 60 % 60),
                static_cast<int>(tod % 60));
  return out;
}

}  // namespace cloudmeta::record_checks
