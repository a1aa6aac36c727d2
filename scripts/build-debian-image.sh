#!/usr/bin/env bash
# Builds a minimal bootable Debian system from the machine's apt sources (mmdebstrap, run as
# root): systemd as init, the cloud kernel and its initramfs, and an ext4 root file system as a
# raw disk image the guest sees as /dev/vda (virtio). A unit ordered after multi-user.target
# prints "PIXELRTS-DEBIAN-OK ... multi_user=active" on the serial console (through the kernel
# log) and powers the machine off.
#
# Output (cached between local runs; CI=true always builds fresh):
#   $OUT/vmlinuz, $OUT/initrd.img, $OUT/disk.img (raw ext4), $OUT/kernel-version, $OUT/cmdline
# Env: PIXELRTS_DEBIAN_DIR (default .cache/debian-image), PIXELRTS_DEBIAN_SUITE (default: the
# suite of the machine's apt sources), PIXELRTS_DEBIAN_DISK_MIB (default 400: the payload must be
# over 256 MiB, so the container needs a 16384x16384 grid).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${PIXELRTS_DEBIAN_DIR:-$ROOT/.cache/debian-image}"
DISK_MIB="${PIXELRTS_DEBIAN_DISK_MIB:-400}"
IMAGE_REV=3 # raise when the image's contents change, so cached local images are rebuilt
if [ "${CI:-}" != "true" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ -s "$OUT/disk.img" ] && [ -s "$OUT/cmdline" ] && [ "$(cat "$OUT/image-rev" 2>/dev/null)" = "$IMAGE_REV" ]; then
  echo "debian image: cached in $OUT ($(cat "$OUT/kernel-version"))"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-debian-image: needs root (mmdebstrap --mode=root, mkfs.ext4 -d keeps owners)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "build-debian-image: mmdebstrap is missing (bash scripts/setup-system.sh installs it)" >&2; exit 1; }
SUITE="${PIXELRTS_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
work="$(mktemp -d /var/tmp/pixelrts-debian.XXXXXX)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
# The marker unit: After=multi-user.target, so it runs once systemd has reached that target.
mkdir -p "$work/overlay/etc/systemd/system/multi-user.target.wants"
cat > "$work/overlay/etc/systemd/system/pixelrts-marker.service" <<'UNIT'
[Unit]
Description=PixelRTS boot marker
After=multi-user.target

[Service]
Type=oneshot
# Through the kernel log (printed on the serial console), not by opening ttyS0: the serial getty
# starting at the same moment hangs the tty up under a writer, which then never got to poweroff.
# The poweroff runs whatever the echo did.
ExecStart=/bin/sh -c 'echo "PIXELRTS-DEBIAN-OK kernel=$(uname -r) multi_user=$(systemctl is-active multi-user.target) state=$(systemctl is-system-running) uptime=$(cut -d" " -f1 /proc/uptime)" > /dev/kmsg; /bin/systemctl --no-block poweroff'

[Install]
WantedBy=multi-user.target
UNIT
ln -s ../pixelrts-marker.service "$work/overlay/etc/systemd/system/multi-user.target.wants/pixelrts-marker.service"
echo "debian image: mmdebstrap $SUITE (minbase + systemd-sysv + linux-image-cloud-amd64)"
# Docs, man pages and locales are left out; the initramfs holds only the modules this machine
# type needs (virtio disk, ext4), which keeps it small and quick to unpack under TCG.
mmdebstrap --quiet --variant=minbase --mode=root \
  --include=systemd-sysv,linux-image-cloud-amd64,udev \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list > "$1/etc/initramfs-tools/conf.d/pixelrts" && printf "virtio_pci\nvirtio_blk\next4\n" >> "$1/etc/initramfs-tools/modules"' \
  --customize-hook="cp -a $work/overlay/. \"\$1/\"" \
  --customize-hook='echo pixelrts-debian > "$1/etc/hostname"' \
  --customize-hook='printf "/dev/vda / ext4 defaults 0 1\n" > "$1/etc/fstab"' \
  --customize-hook='chroot "$1" passwd -d root >/dev/null' \
  "$SUITE" "$work/root"
version="$(ls "$work/root/boot" | sed -n 's/^vmlinuz-//p' | head -1)"
[ -n "$version" ] || { echo "build-debian-image: no kernel in the root file system" >&2; exit 1; }
mkdir -p "$OUT"
cp "$work/root/boot/vmlinuz-$version" "$work/vmlinuz"
cp "$work/root/boot/initrd.img-$version" "$work/initrd.img"
echo "debian image: ext4 root file system, ${DISK_MIB} MiB"
mkfs.ext4 -q -F -L pixelrts-root -E lazy_itable_init=0,lazy_journal_init=0 -d "$work/root" "$work/disk.img" "${DISK_MIB}M"
for f in vmlinuz initrd.img disk.img; do mv "$work/$f" "$OUT/$f.tmp"; done
for f in vmlinuz initrd.img disk.img; do mv "$OUT/$f.tmp" "$OUT/$f"; done
echo "console=ttyS0 root=/dev/vda rw systemd.show_status=1" > "$OUT/cmdline"
echo "$version" > "$OUT/kernel-version"
echo "$IMAGE_REV" > "$OUT/image-rev"
echo "debian image: built in $OUT in $(( $(date +%s) - start )) s (kernel $version; vmlinuz $(stat -c %s "$OUT/vmlinuz"), initrd $(stat -c %s "$OUT/initrd.img"), disk $(stat -c %s "$OUT/disk.img") bytes)"
