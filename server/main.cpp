#include <sodium.h>

#include <cstdio>

#include "cloudmeta/cli.hpp"

int main(int argc, char** argv) {
  // Every command may hash a password, make a token or sign one: libsodium first.
  if (sodium_init() < 0) {
    std::fputs("cloudmeta: error: libsodium could not be initialised\n", stderr);
    return 1;
  }
  return cloudmeta::run_cli(argc, argv);
}
