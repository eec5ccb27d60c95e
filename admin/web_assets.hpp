// The admin page's static files (admin/web/), built into the binary by cmake/embed_web.cmake so
// that the server needs nothing beside it at run time. Thread-safe (immutable).
#pragma once

#include <string_view>

namespace cloudmeta::admin {

struct WebAsset {
  std::string_view content_type;
  std::string_view body;
};

// name: a file name under admin/web/ ("index.html", "app.js"); nullptr when there is none.
const WebAsset* find_web_asset(std::string_view name);

}  // namespace cloudmeta::admin
