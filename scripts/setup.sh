#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for checkpoint-gateway: system packages and a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc, libc6-dev, python3-dev: evdev (keyboard-wedge scanners) builds from source.
# Further packages may be named as arguments (scripts/test.sh adds PostgreSQL's server).
PACKAGES=(python3-venv libzbar0 mosquitto chromium fonts-noto-cjk systemd gcc libc6-dev python3-dev "$@")

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
