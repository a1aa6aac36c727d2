/** Plain-JS view of a PixelRTS v2 metadata document (spec §4). Unknown keys are kept but ignored. */
export interface PixelRtsMetadata {
  format?: string;
  format_version?: number;
  grid_size?: number;
  encoding?: { type?: string; bytes_per_pixel?: number; mapping?: string };
  offsets?: Record<string, SegmentInfo>;
  hashes?: Record<string, string>;
  encoding_mode?: string;
  type?: string;
  name?: string;
  content_version?: string;
  description?: string;
  segments?: Record<string, SegmentInfo>;
  boot?: BootConfig;
  data_hash?: string;
  data_size?: number;
  encoded_size?: number;
  compression?: { type?: string; level?: number; original_size?: number; compressed_size?: number; ratio?: number };
  original_data_b64?: string;
  signature?: { algorithm?: string; public_key?: string; value?: string };
  /** vm-snapshot fields (spec §6.1) */
  disk_size?: number;
  has_kernel?: boolean;
  has_initrd?: boolean;
  [key: string]: unknown;
}

/** A segment entry: converter files carry type/size/sha256; boot bundles add start (or offset). */
export interface SegmentInfo {
  type?: string;
  size?: number;
  sha256?: string;
  start?: number;
  offset?: number;
  version?: string;
  description?: string;
  [key: string]: unknown;
}

export interface BootConfig {
  cmdline?: string;
  arch?: "x86_64" | "aarch64" | "riscv64" | string;
  machine?: string;
  memory?: string;
  cpus?: number;
}

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** PNG colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  interlace: number;
}

/** What can be learnt from a container's bytes before the first IDAT chunk (spec §2.1, §4.4). */
export interface ContainerHead {
  ihdr: PngHeader;
  metadata: PixelRtsMetadata;
  /** The metadata JSON exactly as stored (without the leading `PixelRTS`). */
  metadataJson: string;
  /** Offset of the first IDAT chunk: bytes [0, headLength) are what was parsed. */
  headLength: number;
}
