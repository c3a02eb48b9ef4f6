#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver when missing, so the console's browser tests run
# instead of skipping. Never downloads a browser build of its own; never fails the build by
# itself (without Chromium the browser tests skip and say why).
set -u
missing=""
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing=" chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "not installing$missing (needs root: sudo apt-get install -y$missing); the browser tests will skip"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # $missing is a list of package names
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null \
    || echo "could not install$missing; the browser tests will skip"
fi
exit 0
