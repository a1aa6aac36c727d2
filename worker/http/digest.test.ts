import { describe, expect, it } from "vitest";
import { isPixelRtsError } from "../../shared/errors";
import { clientSha256, reprDigest } from "./digest";

const HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const B64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

describe("digest headers", () => {
  it("formats Repr-Digest per RFC 9530", () => expect(reprDigest(HEX)).toBe(`sha-256=:${B64}:`));
  it("reads X-PixelRTS-SHA256 (any case)", () => expect(clientSha256(new Headers({ "x-pixelrts-sha256": HEX.toUpperCase() }))).toBe(HEX));
  it("reads the sha-256 member of Repr-Digest / Content-Digest", () => {
    expect(clientSha256(new Headers({ "repr-digest": `sha-512=:AAAA:, sha-256=:${B64}:` }))).toBe(HEX);
    expect(clientSha256(new Headers({ "content-digest": `sha-256=:${B64}:` }))).toBe(HEX);
  });
  it("null without a digest; E_BAD_DIGEST when malformed", () => {
    expect(clientSha256(new Headers())).toBeNull();
    const cases: Record<string, string>[] = [{ "x-pixelrts-sha256": "abc" }, { "repr-digest": "md5=:AAAA:" }, { "repr-digest": "sha-256=:AAAA:" }];
    for (const headers of cases) {
      try {
        clientSha256(new Headers(headers));
        expect.unreachable();
      } catch (e) {
        expect(isPixelRtsError(e) && e.code).toBe("E_BAD_DIGEST");
      }
    }
  });
});
