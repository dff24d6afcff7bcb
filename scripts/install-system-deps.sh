#!/usr/bin/env bash
# System packages the test suite needs beyond the Python venv, from Debian.
# Idempotent: installs only what is missing, and refreshes the package lists at
# most once per run (and only when something is missing).
#   openjdk-17-jre-headless: runs the local Elasticsearch 8 node (mediawatch/esnode.py)
#   maven: fetches the Elasticsearch distribution from Maven Central
#   chromium: headless browser for the analyst page tests (tests/test_web*.py)
set -euo pipefail

PACKAGES=(openjdk-17-jre-headless maven chromium)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: all present (${PACKAGES[*]})"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-system-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
