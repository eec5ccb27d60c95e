#include "host_check.hpp"

#include <algorithm>

#include "cloudmeta/asio.hpp"

namespace cloudmeta::admin {

namespace {

bool is_port(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_address(std::string_view s) {
  boost::system::error_code ec;
  net::ip::make_address(std::string(s), ec);
  return !ec;
}

}  // namespace

bool host_allowed(std::string_view host, const std::vector<std::string>& names) {
  while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
  while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
  if (host.empty()) return true;
  if (names.size() == 1 && names.front() == "*") return true;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return false;
    return is_address(host.substr(1, close - 1));
  }
  if (is_address(host)) return true;  // an IPv6 literal without brackets (older clients)
  std::string_view name = host;
  if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    if (!is_port(host.substr(colon + 1))) return false;
    name = host.substr(0, colon);
  }
  if (is_address(name)) return true;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // the root label is the same name
  std::string lowered(name);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return std::find(names.begin(), names.end(), lowered) != names.end();
}

}  // namespace cloudmeta::admin
