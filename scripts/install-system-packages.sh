#!/usr/bin/env bash
# Debian packages lifbridge needs: a C++ toolchain and cmake (NESTML modules and
# Brian2's cython/standalone targets), Boost and GSL headers (NEST extension
# modules), and Chromium (rendering the validation report in tests).
set -euo pipefail
packages=(g++ make cmake libboost-dev libgsl-dev python3-dev python3-venv chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
