# Sourced by scripts/install-deps.sh and bench/install.sh: apt_install_missing PKG... installs the
# Debian packages that are not installed yet (with sudo when not root), and nothing when all are.
apt_install_missing() {
  local sudo="" missing=() p
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
