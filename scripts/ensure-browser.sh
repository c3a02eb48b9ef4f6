#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver when missing, so the console's browser tests run
# instead of skipping. Never downloads a browser build of its own; never fails the build by
# itself (without Chromium the browser tests skip and say why).
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null \
    || echo "could not install chromium; the browser tests will skip"
fi
exit 0
