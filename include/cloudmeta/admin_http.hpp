// The admin surface's messages: what server/http/ reads off the admin socket and what every admin
// route takes and returns. Apart from admin_api.hpp so that the routes depend on the messages,
// not on the AdminApi that dispatches to them.
#pragma once

#include "cloudmeta/asio.hpp"

namespace cloudmeta::admin {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

}  // namespace cloudmeta::admin
