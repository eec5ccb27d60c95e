#include "cloudmeta/imds_error_pages.hpp"

namespace cloudmeta::imds {
namespace {

#define CLOUDMETA_AWS_ERROR_PAGE(title)                                          \
  "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n"                            \
  "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n"           \
  "\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"             \
  "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n" \
  " <head>\n"                                                                    \
  "  <title>" title "</title>\n"                                                 \
  " </head>\n"                                                                   \
  " <body>\n"                                                                    \
  "  <h1>" title "</h1>\n"                                                       \
  " </body>\n"                                                                   \
  "</html>\n"

constexpr std::string_view k400 = CLOUDMETA_AWS_ERROR_PAGE("400 - Bad Request");
constexpr std::string_view k401 = CLOUDMETA_AWS_ERROR_PAGE("401 - Unauthorized");
constexpr std::string_view k403 = CLOUDMETA_AWS_ERROR_PAGE("403 - Forbidden");
constexpr std::string_view k404 = CLOUDMETA_AWS_ERROR_PAGE("404 - Not Found");
constexpr std::string_view k405 = CLOUDMETA_AWS_ERROR_PAGE("405 - Method Not Allowed");
constexpr std::string_view k413 = CLOUDMETA_AWS_ERROR_PAGE("413 - Request Entity Too Large");
constexpr std::string_view k429 = CLOUDMETA_AWS_ERROR_PAGE("429 - Too Many Requests");
constexpr std::string_view k431 = CLOUDMETA_AWS_ERROR_PAGE("431 - Request Header Fields Too Large");
constexpr std::string_view k500 = CLOUDMETA_AWS_ERROR_PAGE("500 - Internal Server Error");

#undef CLOUDMETA_AWS_ERROR_PAGE

}  // namespace

std::string_view error_page(int status) {
  switch (status) {
    case 400: return k400;
    case 401: return k401;
    case 403: return k403;
    case 404: return k404;
    case 405: return k405;
    case 413: return k413;
    case 429: return k429;
    case 431: return k431;
    default: return k500;
  }
}

}  // namespace cloudmeta::imds
