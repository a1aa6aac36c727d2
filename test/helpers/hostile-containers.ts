/**
 * Containers an attacker would write: made by the real encoder (bundle layout, metadata rows,
 * PNG stream), with the metadata document edited before it is serialised, so everything but
 * the chosen values is exactly what `pixelrts pack` writes.
 */
import { NODE_CODEC } from "../../agent/codec/node-platform.js";
import { bundleMetadata, layoutBundle } from "../../shared/container/bundle.js";
import { collectBytes, encodeContainer } from "../../shared/container/encode.js";
import type { PyDict } from "../../shared/pyjson.js";

/** Any character a terminal acts on: C0 (but LF), DEL, C1, bidi embeddings/overrides/isolates. */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** OSC retitle + BEL, clear screen, a CR that rewinds the row, a C1 CSI, a bidi override. */
export const HOSTILE_TEXT = "evil\x1b]0;owned\x07\x1b[2J\rcached,verified\u009b31m\u202egnp.\x7f";

/**
 * A boot bundle (kernel + initrd) whose metadata `edit` may change: `doc` is the whole document,
 * `boot` its `boot` object.
 */
export async function hostileBundle(edit: (doc: PyDict, boot: PyDict) => void, kernel: Uint8Array = new Uint8Array(20_000).fill(0x4b), initrd: Uint8Array = new Uint8Array(7_000).fill(0x49)): Promise<Uint8Array> {
  const input = { segments: [{ name: "kernel", type: "kernel", data: kernel }, { name: "initrd", type: "initrd", data: initrd }], boot: { cmdline: "console=ttyS0", arch: "x86_64" as const } };
  const layout = await layoutBundle(input, NODE_CODEC.sha256);
  const enc = await encodeContainer(
    layout.payload,
    (ctx) => {
      const doc = bundleMetadata(layout, input)(ctx);
      edit(doc, doc.get("boot") as PyDict);
      return doc;
    },
    NODE_CODEC,
  );
  return collectBytes(enc.png);
}
