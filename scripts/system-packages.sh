#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite needs when they are missing: Chromium (the run
# report is rendered in headless Chromium), its fonts, and curl (the README's REST example).
# `make test` and CI both run this; with nothing missing it does nothing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "prodcat: the tests need these system packages; install them (as root) and run again: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "prodcat: installing system packages the tests need: ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
