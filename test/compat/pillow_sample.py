#!/usr/bin/env python3
"""Independent check of a large container: Pillow opens the PNG (its decompression-bomb limit
raised explicitly: a 16384x16384 image is 268 M pixels, over Pillow's default of 89 M), reads the
PixelRTS metadata, and at sampled curve indices compares the pixels, walked with the spec's own
d2xy, to the payload file's bytes. Usage: pillow_sample.py CONTAINER PAYLOAD SAMPLES SEED.
Prints JSON."""
import json, random, sys
from PIL import Image
from pillow_decode import d2xy  # the spec's curve, one copy (this directory is on sys.path)

Image.MAX_IMAGE_PIXELS = 32768 * 32768


def main(png, payload_path, samples, seed):
    img = Image.open(png)
    meta = None
    for value in img.text.values():
        if value.startswith("PixelRTS"):
            meta = json.loads(value[len("PixelRTS"):])
            break
    img.load()
    g = img.size[0]
    n = meta["data_size"]
    rng = random.Random(seed)
    indices = sorted({0, (n - 1) // 4} | {rng.randrange((n + 3) // 4) for _ in range(samples)})
    mismatches = 0
    with open(payload_path, "rb") as f:
        for i in indices:
            x, y = d2xy(g, i)
            px = img.getpixel((x, y))
            f.seek(4 * i)
            want = f.read(4)
            got = bytes(px[: len(want)])
            if got != want:
                mismatches += 1
    print(json.dumps({"mode": img.mode, "size": list(img.size), "grid_size": meta["grid_size"], "data_size": n, "checked": len(indices), "mismatches": mismatches}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
