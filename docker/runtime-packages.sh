#!/bin/sh
# Prints the Debian packages that own the shared libraries BINARY loads, one a line: the image's
# runtime stage installs exactly these, so it follows the build's dependencies. Run it where the
# binary was built (Debian 12 with scripts/install-deps.sh --build-only).
# Usage: runtime-packages.sh BINARY
set -eu
libs=$(ldd "$1")
if printf '%s\n' "$libs" | grep -q 'not found'; then
  printf '%s\n' "$libs" >&2
  exit 1
fi
owners=""
for lib in $(printf '%s\n' "$libs" | awk '$3 ~ /^\// {print $3}'); do
  # Debian 12 registers a library under /lib or /usr/lib (merged /usr): ask for both names.
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}") \
    || { echo "no package owns $lib" >&2; exit 1; }
  owners="$owners$owner
"
done
# dpkg -S prints "pkg[:arch][, pkg[:arch]]: /path".
printf '%s' "$owners" | sed 's/: [^:]*$//' | tr ',' '\n' | sed 's/^ *//; s/:.*//' | sort -u
