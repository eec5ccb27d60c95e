// DATABASE_URL -> Store. Accepted forms:
//   unset or ""                     ./cloudmeta.db in the working directory
//   sqlite:///var/lib/cloudmeta.db  the absolute path after "sqlite://" (extra leading slashes,
//                                   as in sqlite:////var/lib/x.db, name the same file)
//   sqlite://data/cloudmeta.db      a path relative to the working directory
//   postgres://... postgresql://... PostgresStore; the URL goes to libpq unchanged
// The rule for sqlite is "everything after sqlite:// is the file path, taken literally" (no
// host part, no percent-decoding, no query parameters). Error messages name the scheme but never
// repeat the URL, which may hold a password.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

#include "cloudmeta/store.hpp"
#include "postgres_store.hpp"
#include "sqlite_store.hpp"

namespace cloudmeta {
namespace {

using Kind = StoreError::Kind;

constexpr std::string_view kDefaultSqliteFile = "cloudmeta.db";

bool is_scheme(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

std::string sqlite_path(std::string_view rest) {
  if (rest.find_first_of("?#") != std::string_view::npos) {
    throw StoreError(Kind::kInvalid,
                     "sqlite:// URLs take no query parameters or fragments; give only the path");
  }
  const auto first = rest.find_first_not_of('/');
  if (first == std::string_view::npos) {
    throw StoreError(Kind::kInvalid,
                     "the sqlite:// URL names no file; use sqlite:///path/to/file.db");
  }
  if (rest.back() == '/') {
    throw StoreError(Kind::kInvalid, "the sqlite:// URL names a directory, not a file");
  }
  // Built piecewise: g++ 12 warns falsely (-Wrestrict) on `const char* + std::string`.
  std::string path = first > 0 ? "/" : "";
  path.append(rest.substr(first));
  return path;
}

}  // namespace

bool is_network_database(const std::string& database_url) {
  const auto sep = database_url.find("://");
  if (sep == std::string::npos) return false;
  std::string scheme = database_url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  return scheme == "postgres" || scheme == "postgresql";
}

std::unique_ptr<Store> open_store(const std::string& database_url,
                                  const StoreOptions& options) {
  if (database_url.empty())
    return std::make_unique<store::SqliteStore>(std::string(kDefaultSqliteFile));
  const auto sep = database_url.find("://");
  std::string scheme = sep == std::string::npos ? "" : database_url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  if (!is_scheme(scheme)) {
    throw StoreError(Kind::kInvalid,
                     "DATABASE_URL has no scheme; use sqlite:///path/to/file.db, "
                     "postgres://user@host/db, or leave it unset for ./cloudmeta.db");
  }
  if (scheme == "sqlite") {
    return std::make_unique<store::SqliteStore>(
        sqlite_path(std::string_view(database_url).substr(sep + 3)));
  }
  if (scheme == "postgres" || scheme == "postgresql") {
    return std::make_unique<store::PostgresStore>(database_url, options);
  }
  throw StoreError(Kind::kInvalid, "DATABASE_URL scheme \"" + scheme +
                                       "\" is not supported; use sqlite:// or postgres://");
}

}  // namespace cloudmeta
