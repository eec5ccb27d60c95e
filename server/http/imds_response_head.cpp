#include "http/imds_response_head.hpp"

#include <charconv>

#include "http/http_date.hpp"

namespace cloudmeta::http_server {
namespace {

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
  }
}

void append_number(std::string& out, std::int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

void format_imds_head(const imds::Response& response, bool keep_alive, std::string& out) {
  out.clear();
  out += "HTTP/1.1 ";
  append_number(out, response.status);
  out += ' ';
  out += reason(response.status);
  out += "\r\nContent-Type: ";
  if (response.html) {
    out += "text/html";
  } else if (response.content_type == ContentType::kOctetStream) {
    out += "application/octet-stream";
  } else {
    out += "text/plain";
  }
  // AWS: ranges are not served on meta-data, are on user-data.
  out += response.content_type == ContentType::kOctetStream ? "\r\nAccept-Ranges: bytes"
                                                            : "\r\nAccept-Ranges: none";
  out += "\r\nContent-Length: ";
  append_number(out, static_cast<std::int64_t>(response.payload().size()));
  out += "\r\nDate: ";
  out += http_date_now();
  out += "\r\nServer: ";
  out += imds::kServerName;
  out += keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close";
  if (response.ttl) {
    out += "\r\n";
    out += imds::kTtlHeader;
    out += ": ";
    append_number(out, *response.ttl);
  }
  if (!response.allow.empty()) {
    out += "\r\nAllow: ";
    out += response.allow;
  }
  out += "\r\n\r\n";
}

}  // namespace cloudmeta::http_server
