#!/usr/bin/env bash
# Debian packages the test suite uses beyond Node: Pillow (cross-checks our containers with the
# original's PNG reader). Installs only what is missing; needs root (CI runs as root).
set -euo pipefail
missing=()
/usr/bin/python3 -c "import PIL" 2>/dev/null || missing+=(python3-pil)
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: nothing to install"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: please install as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
