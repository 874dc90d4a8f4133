#!/usr/bin/env bash
# Installs, once, every Debian package Atoll's tests and all-in-one need. Idempotent: it asks
# apt only for what is missing.
set -euo pipefail
pkgs=(mariadb-server mariadb-client python3-cs python3-requests python3-sshpubkeys ansible curl ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
