#!/usr/bin/env bash
# Install what Numero Unico needs on a Debian machine (as root) and the Python package in .venv.
# Idempotent: a second run only checks. The Asterisk 22 chroot is built on first use by ivr itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(debootstrap systemd logrotate redis-server postgresql espeak-ng sox baresip kamailio kamailio-tls-modules chromium chromium-driver python3-venv ca-certificates)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
