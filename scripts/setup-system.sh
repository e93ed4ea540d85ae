#!/usr/bin/env bash
# System packages the project needs: the Linux VST plugins that prove the real-plugin
# path, SoX and liblo tools for out-of-domain fixtures and OSC tests, libsndfile, and
# node with npm for the Max for Live device's JavaScript tests (only when no node >= 18),
# headless Chromium, which renders the match report in a test as a producer sees it, and
# the shell checker that lints the producer install script (tests/test_user_install.py).
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail
PKGS=(zynaddsubfx-vst lsp-plugins-vst dragonfly-reverb-vst zam-plugins sox liblo-tools libsndfile1 chromium shellcheck)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 18 ]; then missing+=(nodejs); fi
if ! command -v npm >/dev/null; then missing+=(npm); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
