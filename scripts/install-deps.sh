#!/usr/bin/env bash
# Installs every Debian 12 package cloudmeta needs to build, run and test.
# Idempotent: apt-get skips what is already installed. Used by the README, .ci/run and
# docker/Dockerfile (with --build-only).
set -euo pipefail

# `--build-only`: just what compiling needs (docker/Dockerfile's build stage uses this).
build_packages=(
  build-essential cmake pkg-config git
  libboost1.81-dev            # Beast + Asio (header-only); 1.81 over 1.74: as_tuple, fixed coroutines
  libsqlite3-dev libsqlitecpp-dev
  nlohmann-json3-dev
  libsodium-dev               # Argon2id, HMAC-SHA256, base64, randomness, constant-time compare
  libcli11-dev                # the command line
  libssl-dev                  # identity-document signing (PKCS#7, RSA)
  libpq-dev                   # the PostgreSQL backend (libpq)
  libsystemd-dev              # sd_notify (Type=notify, watchdog) and socket activation
  doctest-dev
  libyaml-cpp-dev             # the admin page's cloud-config (YAML) syntax check
  libnl-3-dev libnl-route-3-dev  # CALLER_BINDING: the kernel's neighbour and bridge tables
  libpugixml-dev              # `cloudmeta libvirt-hook`: libvirt's domain XML
)
test_packages=(
  # real clients and real tools
  python3 cloud-init python3-botocore awscli iproute2 curl sqlite3
  libvirt-clients             # virsh and libvirt's test driver: real domain XML for the hook's tests
  nftables                    # the DNAT recipe of docs/hypervisor.md (tests/clients/test_dnat.sh)
  postgresql                  # a real server for the store tests (tests/support/pg_cluster.sh)
  systemd                     # systemd-analyze, systemd-socket-activate (tests/systemd)
  podman runc debootstrap podman-compose  # the container image and systemd-in-a-container tests
  chromium                    # the admin page's browser tests (tests/browser, playwright-core)
  strace                      # shows export --output creates its file 0600 in open() itself
  # scripts/check-deep.sh: sanitizer builds and libFuzzer targets (clang's runtimes), ccache
  clang-14 libclang-rt-14-dev libfuzzer-14-dev ccache
  e2fsprogs util-linux        # mkfs.ext4, mount -o loop: a filesystem that turns read-only
)
# Packages whose daemons must never run here as services (see install_without_service), each
# with the unit its postinst enables: prometheus for promtool alone
# (tests/clients/test_promtool.sh lints a real /metrics scrape); nginx-light and haproxy, started
# by tests/clients/trusted_proxy.py itself from a configuration in a temp dir, as real proxies in
# front of cloudmeta.
declare -A service_test_packages=([prometheus]=prometheus [nginx-light]=nginx [haproxy]=haproxy)

packages=("${build_packages[@]}")
if [ "${1:-}" != "--build-only" ]; then packages+=("${test_packages[@]}"); fi

source "$(dirname "$0")/apt-install.sh"
apt_install_missing "${packages[@]}"

# Installs packages whose postinst would enable and start a daemon, without starting it: a
# policy-rc.d answering 101 ("action forbidden", the Debian interface that invoke-rc.d and
# deb-systemd-invoke obey) is put in place for the install unless one exists (container images ship
# one), and the units the postinst enabled are then disabled (offline with --root when systemd is
# not running), so they do not start at the next boot either; upgrades keep a disabled unit
# disabled. Only packages this run installed are touched.
install_without_service() {
  local sudo="" policy=/usr/sbin/policy-rc.d placed="" missing=() p
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    placed=1
  fi
  local status=0
  apt_install_missing "${missing[@]}" || status=$?
  if [ -n "$placed" ]; then $sudo rm -f "$policy"; fi
  [ "$status" = 0 ] || return "$status"
  for p in "${missing[@]}"; do
    if [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now --quiet "${service_test_packages[$p]}.service"
    else
      $sudo systemctl --root=/ disable --quiet "${service_test_packages[$p]}.service"
    fi
  done
}
if [ "${1:-}" != "--build-only" ]; then install_without_service "${!service_test_packages[@]}"; fi

# The browser tests' npm packages (playwright-core only; it drives Debian's chromium and downloads
# no browser). Node.js and npm come from Debian unless a node with npm is already installed.
if [ "${1:-}" != "--build-only" ]; then
  if ! command -v npm >/dev/null 2>&1; then apt_install_missing nodejs npm; fi
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  # npm ci again only when the lock changed since the last install (idempotent, and offline).
  if [ ! "$browser_dir/node_modules/.package-lock.json" -nt "$browser_dir/package-lock.json" ]; then
    (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
fi
