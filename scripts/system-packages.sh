#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite needs when they are missing: Chromium (the run
# report is rendered in headless Chromium), its fonts, chromium-driver (Selenium drives `prodcat review`
# in Chromium), curl (the README's REST example), and a C compiler with libc headers
# (tests/serving/test_c_api.py builds a C program against TF's C API).
# `make test` and CI both run this; with nothing missing it does nothing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# libc6-dev is only a Recommends of gcc, which --no-install-recommends below leaves out.
{ command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; } && [ -e /usr/include/stdio.h ] \
  || missing+=(gcc libc6-dev)
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
