// The bodies AWS's IMDS sends with its error statuses: small XHTML pages, served as text/html.
// Clients only look at the status, but some scripts print the body; ours match AWS's shape.
#pragma once

#include <string_view>

namespace cloudmeta::imds {

std::string_view error_page(int status);

}  // namespace cloudmeta::imds
