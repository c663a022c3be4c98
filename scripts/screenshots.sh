#!/usr/bin/env bash
# Refreshes docs/screenshots/*.png (shown in the README) by running the browser test with its
# screenshots directed there, then shrinks them with pngquant when it is installed
# (apt-get install -y pngquant). Needs chromium and chromedriver, like the test itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/docs/screenshots"
mkdir -p "$out"
UCOAUTH_SCREENSHOTS_DIR="$out" cargo test -p ucoauth-server --test api -- \
  browser::a_merchant_uses_the_back_office_and_the_oauth_flow_in_chromium --exact
if command -v pngquant >/dev/null 2>&1; then
  for f in "$out"/*.png; do
    pngquant --quality=70-90 --speed 1 --strip --force --output "$f" "$f"
  done
fi
du -ch "$out"/*.png | tail -1
