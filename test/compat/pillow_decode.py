#!/usr/bin/env python3
"""Decodes a PixelRTS v2 container the way the original Python tool does (spec §3, §5.1),
independently of our TypeScript codec: Pillow reads the PNG, the metadata is the first text
chunk containing "PixelRTS", and pixels are walked with the spec's d2xy. Prints JSON."""
import base64, hashlib, json, sys
from PIL import Image


def d2xy(n, d):
    x = y = 0
    t = d
    s = 1
    while s < n:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        if ry == 0:
            if rx == 1:
                x = s - 1 - x
                y = s - 1 - y
            x, y = y, x
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return x, y


def main(path):
    img = Image.open(path)
    img.load()
    meta = None
    for value in img.text.values():
        if "PixelRTS" in value:
            text = value[len("PixelRTS"):] if value.startswith("PixelRTS") else value
            try:
                meta = json.loads(text)
                break
            except ValueError:
                continue
    if meta is None:
        raise SystemExit("no metadata")
    if "original_data_b64" in meta:
        data = base64.b64decode(meta["original_data_b64"])
    else:
        rgba = img.convert("RGBA")
        w, h = rgba.size
        px = rgba.load()
        n = meta.get("encoded_size", meta["data_size"])
        out = bytearray()
        for i in range((n + 3) // 4):
            x, y = d2xy(w, i)
            out.extend(px[x, y])
        data = bytes(out[:n])
    print(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "grid": img.size[0], "text_keys": list(img.text.keys())}))


if __name__ == "__main__":
    main(sys.argv[1])
