#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (tests/browser): make chromium.
#
#   tools/install_chromium.sh [--optional]
#
# Debian's `chromium` and `chromium-driver` packages, installed with apt-get when this runs
# as root and they are missing. Elsewhere it says what to install; with --optional it then
# exits 0 so `make test` goes on (the browser tests skip with that reason; under CI=true
# they fail instead).
set -euo pipefail

OPTIONAL=${1:-}
BROWSER=${CHROMIUM:-/usr/bin/chromium}
DRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

have() { [[ -x "$BROWSER" && -x "$DRIVER" ]]; }

give_up() {
    echo "make chromium: $1" >&2
    echo "make chromium: install Debian's chromium and chromium-driver (or set CHROMIUM and CHROMEDRIVER)" >&2
    if [[ "$OPTIONAL" == "--optional" ]]; then
        echo "make chromium: skipped; the browser tests will be skipped" >&2
        exit 0
    fi
    exit 1
}

have && exit 0
command -v apt-get >/dev/null || give_up "no apt-get here"
[[ $(id -u) -eq 0 ]] || give_up "not root, so apt-get cannot install it"
echo "make chromium: installing chromium and chromium-driver with apt-get (first run only)..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
        || give_up "apt-get could not install chromium chromium-driver"
fi
have || give_up "installed, but $BROWSER or $DRIVER is still missing"
"$BROWSER" --version 2>/dev/null | head -1
