// Reading a new superuser password for createsuperuser and changepassword.
#pragma once

#include <ostream>
#include <string>

#include "cloudmeta/config.hpp"

namespace cloudmeta::cli {

inline constexpr std::string_view kPasswordVariable = "CLOUDMETA_SUPERUSER_PASSWORD";

// With `noinput`: CLOUDMETA_SUPERUSER_PASSWORD from `env` (UsageError when unset or too short).
// Otherwise standard input must be a terminal: prompts "Password: " and "Password (again): " on
// `err` with echo off, and asks again (up to three times) on a mismatch or a short password;
// CommandError after that or at end of input.
std::string read_new_password(const Config::Lookup& env, bool noinput, std::ostream& err);

}  // namespace cloudmeta::cli
