#!/usr/bin/env bash
# Builds the tiny bootable Linux used by the end-to-end test and the demo:
#   Debian's cloud kernel (LZ4, fast to decompress under TCG) + a busybox initramfs whose /init
#   prints "PIXELRTS-BOOT-OK kernel=<version>" and powers off.
# Packages are fetched with `apt-get download` (nothing is installed system-wide); the kernel
# version is resolved from the linux-image-cloud-amd64 metapackage, never hard-coded.
# Output (cached between runs): $OUT/vmlinuz, $OUT/initramfs.cpio.gz, $OUT/kernel-version.
# Needs root for mknod (CI runs as root); otherwise /dev/console comes from devtmpfs at boot.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${PIXELRTS_TEST_IMAGE_DIR:-$ROOT/.cache/test-image}"
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.cpio.gz" ] && [ -s "$OUT/kernel-version" ]; then
  echo "test image: cached in $OUT ($(cat "$OUT/kernel-version"))"
  exit 0
fi
command -v apt-get >/dev/null || { echo "build-test-image: needs apt-get (Debian/Ubuntu) to fetch the kernel and busybox" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
K="$(resolve)"
if [ -z "$K" ]; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; K="$(resolve)"; fi
fi
[ -n "$K" ] || { echo "build-test-image: cannot resolve linux-image-cloud-amd64 (run apt-get update as root)" >&2; exit 1; }
echo "test image: fetching $K and busybox-static"
apt-get download -qq "$K" busybox-static >/dev/null
dpkg -x "$K"_*.deb kernel
dpkg -x busybox-static_*.deb bb
version="$(ls kernel/boot | sed -n 's/^vmlinuz-//p' | head -1)"
mkdir -p rootfs/bin rootfs/dev rootfs/proc rootfs/sys
cp bb/bin/busybox rootfs/bin/
ln -s busybox rootfs/bin/sh
if [ "$(id -u)" -eq 0 ]; then mknod -m 600 rootfs/dev/console c 5 1; fi
cat > rootfs/init <<'INIT'
#!/bin/sh
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
echo "PIXELRTS-BOOT-OK kernel=$(/bin/busybox uname -r) uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox poweroff -f
INIT
chmod +x rootfs/init
# Debian's cpio is not installed by default; busybox's applet writes the newc format.
(cd rootfs && find . -print0 | sort -z | ../bb/bin/busybox cpio -o -H newc -0 2>/dev/null) | gzip -9 -n > initramfs.cpio.gz
mkdir -p "$OUT"
cp "kernel/boot/vmlinuz-$version" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
cp initramfs.cpio.gz "$OUT/initramfs.cpio.gz.tmp" && mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "$version" > "$OUT/kernel-version"
echo "test image: built in $OUT (kernel $version, initramfs $(stat -c %s "$OUT/initramfs.cpio.gz") bytes)"
