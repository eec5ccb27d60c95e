// Formats the status line and headers of a metadata response the way AWS's IMDS does
// (Server: EC2ws, text/plain even for JSON leaves, application/octet-stream for user-data).
// Hand-formatted into a buffer reused per connection: the hot path allocates nothing here.
#pragma once

#include <string>

#include "cloudmeta/imds.hpp"

namespace cloudmeta::http_server {

void format_imds_head(const imds::Response& response, bool keep_alive, std::string& out);

}  // namespace cloudmeta::http_server
