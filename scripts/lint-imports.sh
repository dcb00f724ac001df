#!/usr/bin/env bash
# Checks the layering contracts in pyproject.toml ([tool.importlinter]) with import-linter.
# The folders at the repo root are sub-packages of `prodcat` (pyproject's package-dir), which
# import-linter cannot see from the source tree, so the package is laid out as installed
# (setuptools' build_py, about a second) in a temporary directory and checked there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${VENV_BIN:-$repo/.venv/bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && "$bin/python" -c "import setuptools; setuptools.setup()" -q build_py --build-lib "$tmp/lib" \
  >/dev/null 2>"$tmp/build.log") || { cat "$tmp/build.log" >&2; exit 1; }
cd "$tmp/lib"
exec "$bin/lint-imports" --config "$repo/pyproject.toml" "$@"
