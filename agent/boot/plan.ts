/**
 * What to boot from a container (spec §6.2): boot bundles by their segments, vm-snapshots by
 * their disk (and kernel/initrd when positioned), single-file containers as the original's
 * boot discovery would (a segment named kernel/vmlinuz/bzImage, or type "kernel"/"os").
 */
import { INITRD_NAMES, KERNEL_NAMES, listSegments, type SegmentRef } from "../../shared/container/bundle.js";
import type { PixelRtsMetadata } from "../../shared/container/types.js";
import { fail } from "../../shared/errors.js";

export interface BootPlan {
  kernel?: SegmentRef;
  initrd?: SegmentRef;
  disk?: SegmentRef;
  warnings: string[];
}

export function planBoot(m: PixelRtsMetadata, payloadSize: number): BootPlan {
  const segments = listSegments(m, payloadSize);
  const warnings: string[] = [];
  const byType = (t: string) => segments.find((s) => s.type === t);
  const byName = (names: string[]) => names.map((n) => segments.find((s) => s.name === n)).find((s) => s);
  if (m.type === "boot-bundle") {
    const kernel = byType("kernel") ?? fail("E_NOT_BOOTABLE", "this boot bundle has no kernel segment");
    return { kernel, initrd: byType("initrd"), disk: byType("disk"), warnings };
  }
  if (m.type === "vm-snapshot") {
    const disk = segments.find((s) => s.name === "disk") ?? fail("E_NOT_BOOTABLE", "vm-snapshot without disk_size: cannot find its disk");
    const kernel = byName(KERNEL_NAMES);
    if (m.has_kernel && !kernel) warnings.push("the snapshot says it has a kernel, but its offsets were lost (the original encoder drops them): booting the disk alone");
    return { disk, kernel, initrd: kernel ? byName(INITRD_NAMES) : undefined, warnings };
  }
  const whole = segments[0];
  if (whole && (KERNEL_NAMES.includes(whole.name) || m.type === "kernel")) return { kernel: whole, warnings };
  if (whole && m.type === "os") return { disk: whole, warnings };
  fail("E_NOT_BOOTABLE", `this container (type ${JSON.stringify(m.type ?? "none")}) holds no kernel or OS disk: pack one with --kernel, or --type kernel`);
}

/** qcow2 images start with "QFI\xfb"; anything else is passed as raw. */
export function diskFormat(head: Uint8Array): "qcow2" | "raw" {
  return head[0] === 0x51 && head[1] === 0x46 && head[2] === 0x49 && head[3] === 0xfb ? "qcow2" : "raw";
}

/**
 * A qcow2 image can name other files for QEMU to open: a backing file, or an external data
 * file. Those would let a container read files of the boot host, so such images are refused.
 */
export function checkDiskImage(disk: Uint8Array): void {
  if (diskFormat(disk) !== "qcow2") return;
  if (disk.length < 72) fail("E_NOT_BOOTABLE", "the disk is a truncated qcow2 image");
  const v = new DataView(disk.buffer, disk.byteOffset, disk.byteLength);
  if (v.getBigUint64(8) !== 0n) fail("E_NOT_BOOTABLE", "the qcow2 disk names a backing file on the boot host: refusing it (flatten it with qemu-img convert first)");
  if (v.getUint32(4) >= 3 && disk.length >= 80 && (v.getBigUint64(72) & 4n) !== 0n) {
    fail("E_NOT_BOOTABLE", "the qcow2 disk uses an external data file on the boot host: refusing it");
  }
}
