// Which Host header values the admin surface answers, against DNS rebinding: a page on
// attacker.example whose name is made to resolve to 127.0.0.1 reaches the admin port from the
// victim's browser as a same-origin page, and its requests say `Host: attacker.example:8001`.
// A Host that is an IP literal (any port) cannot come from such a page, so it is always
// accepted: that keeps published container ports, socket activation and every client that
// dials an address working. A name must be in ADMIN_ALLOWED_HOSTS (default: localhost).
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cloudmeta::admin {

// `host`: the Host field as received ("name", "name:port", "1.2.3.4:80", "[::1]:8001"; empty when
// absent: HTTP/1.0 clients omit it and browsers never do). `names`: Config::admin_allowed_hosts.
bool host_allowed(std::string_view host, const std::vector<std::string>& names);

}  // namespace cloudmeta::admin
