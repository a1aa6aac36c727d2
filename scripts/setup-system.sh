#!/usr/bin/env bash
# Debian packages the test suite uses beyond Node: QEMU (the end-to-end boots), mmdebstrap (the
# Debian system booted from the edge), Pillow
# (cross-checks our containers with the original's PNG reader) and Chromium (page tests, driven
# by playwright-core: no browser is ever downloaded from elsewhere); the test kernel itself is
# fetched by scripts/build-test-image.sh with `apt-get download`, so the package lists must be
# fresh. Installs only what is missing; needs root (CI runs as root).
set -euo pipefail
missing=()
/usr/bin/python3 -c "import PIL" 2>/dev/null || missing+=(python3-pil)
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# mmdebstrap: the real Debian system of the end-to-end test (scripts/build-debian-image.sh)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -eq 0 ] && apt-cache depends linux-image-cloud-amd64 >/dev/null 2>&1; then
  echo "setup-system: nothing to install"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: please install as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-system: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
