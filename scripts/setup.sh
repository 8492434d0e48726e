#!/usr/bin/env bash
# Set up Routing Lens on a fresh Debian/Ubuntu machine: system packages, a virtualenv, Python packages.
#   bash scripts/setup.sh          # what the app needs
#   bash scripts/setup.sh --dev    # plus the test tools (pytest, playwright + Debian's chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
PKGS="wordnet-base"
[ "$DEV" = 1 ] && PKGS="$PKGS chromium chromium-driver postgresql"  # postgresql: the class room store's test
if command -v apt-get >/dev/null; then
  missing=""
  for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
else
  echo "warning: no apt-get; install WordNet 3.0 (wordnet-base) and, for tests, chromium yourself" >&2
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .  # routing-lens, routing_lens
[ "$DEV" = 1 ] && .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
echo "setup done: .venv ready"
